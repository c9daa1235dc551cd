"""Run ansible-playbook against localhost with this collection and the test clusters."""

import json
import os
import subprocess
import sys

from tests.utils.collection import collections_root


def run_playbook(playbook, extra_vars=None, check=False, diff=False, tags=None, timeout=600):
    """Run a playbook; return ``(returncode, stdout+stderr)``. ``extra_vars`` is a dict or a file path."""
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
           "-c", "local", playbook]
    if isinstance(extra_vars, dict):
        cmd += ["-e", json.dumps(extra_vars)]
    elif extra_vars:
        cmd += ["-e", "@" + extra_vars]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if tags:
        cmd += ["--tags", tags]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_root(), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    proc = subprocess.run(cmd, env=env, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return proc.returncode, proc.stdout
