"""The demo applications as real processes under supervisord, without migration: the ledgers agree.

Two producers write numbered, keyed messages to one source topic and log every acknowledged message;
one consumer logs every message it processed and commits. One producer is stopped and restarted in
the middle (a graceful stop, as the kafka_producers role does when it repoints a producer). The
invariant checked is the cutover test's: every acknowledged message processed exactly once, numbers
without gaps, each message where the producer was told it was written.
"""

import os
import subprocess
import sys
import time
from collections import Counter

import jinja2
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from tests.utils.wait import wait_topics_on_every_broker

pytestmark = pytest.mark.kafka

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
APPS = os.path.join(REPO, "demo", "apps")
BIN = os.path.dirname(sys.executable)


def write_properties(path, cluster):
    lines = ["bootstrap.servers=%s" % cluster["bootstrap_servers"],
             "security.protocol=%s" % cluster.get("security_protocol", "PLAINTEXT")]
    for key in ("sasl_mechanism", "sasl_username", "sasl_password"):
        if cluster.get(key):
            lines.append("%s=%s" % (key.replace("_", "."), cluster[key]))
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


class Supervisor:
    """supervisord with the demo template, in a folder of its own."""

    def __init__(self, folder, programs):
        self.folder = folder
        (folder / "logs").mkdir(parents=True, exist_ok=True)
        with open(os.path.join(REPO, "demo", "supervisor", "supervisord.conf.j2")) as fh:
            text = jinja2.Template(fh.read()).render(
                demo_supervisor_dir=str(folder), demo_python=sys.executable, demo_apps_dir=APPS, demo_programs=programs)
        self.conf = folder / "supervisord.conf"
        self.conf.write_text(text)

    def ctl(self, *args, check=True):
        proc = subprocess.run([os.path.join(BIN, "supervisorctl"), "-c", str(self.conf)] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=90, check=False)
        if check and proc.returncode not in (0,):
            raise AssertionError("supervisorctl %s: rc %d: %s" % (" ".join(args), proc.returncode, proc.stdout))
        return proc.stdout

    def __enter__(self):
        subprocess.run([os.path.join(BIN, "supervisord"), "-c", str(self.conf)], check=True, timeout=30)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if "RUNNING" in self.ctl("status", check=False) or "STOPPED" in self.ctl("status", check=False):
                return self
            time.sleep(0.2)
        raise AssertionError("supervisord did not answer: %s" % self.ctl("status", check=False))

    def __exit__(self, *exc):
        self.ctl("stop", "all", check=False)
        self.ctl("shutdown", check=False)

    def state(self, name):
        return self.ctl("status", name, check=False).split()[1]


def wait_for(what, condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError("timed out waiting for %s" % what)


def ledger(path):
    if not path.exists():
        return []
    return [line.split() for line in path.read_text().splitlines() if line.strip()]


def test_producers_and_consumer_ledgers_agree(clusters, unique, tmp_path):
    topic = unique("demo-apps")
    admin = AdminClient(clusters.librdkafka("source"))
    admin.create_topics([NewTopic(topic, 3, 3)])[topic].result(timeout=30)
    # every broker knows the topic before the apps ask one of them (a consumer subscribed to a topic
    # its broker does not know yet only looks again at the next metadata refresh)
    wait_topics_on_every_broker(clusters.librdkafka("source"), topic, 3)
    write_properties(tmp_path / "source.properties", clusters["source"])
    count = 600
    programs = [
        {"name": "consumer", "app": "consumer",
         "args": ["--config", "source.properties", "--group", topic, "--topic", topic, "--ledger", "consumer.ledger",
                  "--offset-reset", "earliest"]},
    ] + [
        {"name": pid, "app": "producer",
         "args": ["--config", "source.properties", "--topic", topic, "--id", pid, "--ledger", "%s.ledger" % pid,
                  "--rate", "100", "--count", str(count)]}
        for pid in ("p1", "p2")
    ]
    with Supervisor(tmp_path, programs) as sup:
        sup.ctl("start", "consumer", "p1", "p2")
        wait_for("p1 to be half-way", lambda: len(ledger(tmp_path / "p1.ledger")) >= count // 5, 60)
        sup.ctl("stop", "p1")          # graceful: waits for the acknowledgements
        assert sup.state("p1") == "STOPPED"
        sup.ctl("start", "p1")         # goes on numbering after its ledger
        wait_for("both producers to finish",
                 lambda: sup.state("p1") == "EXITED" and sup.state("p2") == "EXITED", 90)
        acked = ledger(tmp_path / "p1.ledger") + ledger(tmp_path / "p2.ledger")
        wait_for("the consumer to process every acknowledged message",
                 lambda: len(ledger(tmp_path / "consumer.ledger")) >= len(acked), 60)
        sup.ctl("stop", "consumer")
        logs = (tmp_path / "logs" / "p1.log").read_text()

    # each producer numbered 0..count-1 without gap or repeat, across its restart
    for pid in ("p1", "p2"):
        seqs = sorted(int(f[1]) for f in acked if f[0] == pid)
        assert seqs == list(range(count)), pid
    starts = [int(line.rsplit(" ", 1)[1]) for line in logs.splitlines() if "writing to %s" % topic in line]
    assert len(starts) == 2 and starts[0] == 0 and 0 < starts[1] < count  # p1 really ran twice, resuming its numbers
    processed = ledger(tmp_path / "consumer.ledger")
    seen = Counter((f[0], int(f[1])) for f in processed)
    assert [k for k, n in seen.items() if n > 1] == []                      # nothing processed twice
    assert set(seen) == set((f[0], int(f[1])) for f in acked)               # nothing lost, nothing invented
    # each message was read where the producer was told it was written (topic, partition, offset)
    where = dict(((f[0], int(f[1])), tuple(f[2:5])) for f in acked)
    assert all(where[(f[0], int(f[1]))] == tuple(f[2:5]) for f in processed)
