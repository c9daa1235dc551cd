"""Run a module's ``main()`` in a child Python process, with a hard time limit.

For tests of failures that must come within a bound (a wrong CA, a missing client certificate): if the
module never returns, the child is killed and the test fails naming the limit, instead of the test
session hanging (a module stuck in-process would also keep librdkafka's threads, and so the pytest
process, from ending). ``run_module_isolated(name, args, limit)`` returns ``(failed, result, seconds)``,
``seconds`` being ``{"module": the module's own run, "process": the child's, start-up included}``.
"""

import json
import os
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MARK = "KAFKAOPS-ISOLATED-RESULT "

CHILD = r"""
import importlib, json, sys, time
sys.path.insert(0, sys.argv[1])
from tests.utils.collection import collections_root
sys.path.insert(0, collections_root())
from tests.utils.modules import FailJson, run_module
module = importlib.import_module("ansible_collections.kafkaops.migration.plugins.modules." + sys.argv[2])
args = json.loads(sys.stdin.read())
t0 = time.monotonic()
try:
    out = {"failed": False, "result": run_module(module, args)}
except FailJson as exc:
    out = {"failed": True, "result": exc.result}
out["seconds"] = time.monotonic() - t0
sys.stdout.write("\n" + sys.argv[3] + json.dumps(out, default=str) + "\n")
sys.stdout.flush()
"""


class Hung(AssertionError):
    """The module had not returned (or its process not ended) within the limit."""


def run_module_isolated(name, args, limit=60.0):
    """Run module ``name`` (``kafka_topic_sync``...) with ``args`` in a child process; ``(failed, result, seconds)``."""
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, REPO, name, MARK], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output = proc.communicate(json.dumps(args), timeout=limit)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output = proc.communicate()[0]
        took = time.monotonic() - t0
        if MARK in output:
            raise Hung("%s returned, but its process had not ended after %.0fs" % (name, took))
        raise Hung("%s had not returned after %.0fs (hung); output: %s" % (name, took, output[-2000:]))
    took = time.monotonic() - t0
    if MARK not in output:
        raise AssertionError("%s ended (rc %s) without a result: %s" % (name, proc.returncode, output[-3000:]))
    out = json.loads(output.rsplit(MARK, 1)[1])
    return out["failed"], out["result"], {"module": out["seconds"], "process": took}
