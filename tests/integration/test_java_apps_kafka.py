"""The Java demo applications (demo/apps/java) with a Python one, under supervisord, on the SASL target.

A Java producer (java.util.Properties config) writes a fixed count of numbered messages and is stopped
and restarted in the middle; a Java consumer (Spring Boot YAML config) and a Python consumer (.env
config) each read them in a group of their own. Checked: numbers without gaps across the restart,
every acknowledged message processed exactly once by each group, where it was written, the ledger's
bootstrap field, and that the applications kept the settings of their files (acks, client.id,
linger.ms, isolation.level). Then a Java producer given a wrong SASL password acknowledges nothing and
exits with code 2 naming the authentication error (what a rollback test relies on).
"""

import os
import shlex
import subprocess
import sys
import time
from collections import Counter

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from tests.integration.test_demo_apps import Supervisor, ledger, wait_for
from tests.utils.wait import wait_topics_on_every_broker

pytestmark = pytest.mark.kafka

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "demo", "apps"))
import build as java_apps  # noqa: E402

SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"


@pytest.fixture(scope="module")
def java_built():
    """The Java apps compiled once (cached by the sources' hash across sessions)."""
    return java_apps.build()


def jaas(cluster, password=None):
    return '%s required username="%s" password="%s";' % (SCRAM, cluster["sasl_username"],
                                                         password or cluster["sasl_password"])


def write_java_properties(path, cluster, password=None):
    path.write_text("\n".join([
        "# the Java producer's client configuration (java.util.Properties)",
        "bootstrap.servers=%s" % cluster["bootstrap_servers"],
        "security.protocol=%s" % cluster["security_protocol"],
        "sasl.mechanism=%s" % cluster["sasl_mechanism"],
        "sasl.jaas.config=%s" % jaas(cluster, password),
        "acks=all",
        "client.id=ledger-java",
        "linger.ms=7",
    ]) + "\n")
    path.chmod(0o600)


def write_spring_yaml(path, cluster):
    # bootstrap-servers as a list, a nested key, a literal dotted key and Spring's bracket form
    servers = "".join("\n      - %s" % s for s in cluster["bootstrap_servers"].split(","))
    path.write_text("""spring:
  application:
    name: ledger-consumer
  kafka:
    bootstrap-servers:%s
    properties:
      security.protocol: %s
      sasl:
        mechanism: %s
      "[sasl.jaas.config]": '%s'
      isolation.level: read_committed
      client.id: ledger-java-consumer
""" % (servers, cluster["security_protocol"], cluster["sasl_mechanism"], jaas(cluster)))
    path.chmod(0o600)


def write_env(path, cluster):
    path.write_text("\n".join([
        "# the Python consumer's client configuration (dotenv)",
        "KAFKA_BOOTSTRAP_SERVERS=%s" % cluster["bootstrap_servers"],
        "export KAFKA_SECURITY_PROTOCOL=%s" % cluster["security_protocol"],
        'KAFKA_SASL_MECHANISM="%s"' % cluster["sasl_mechanism"],
        "KAFKA_SASL_USERNAME='%s'" % cluster["sasl_username"],
        'KAFKA_SASL_PASSWORD="%s"' % cluster["sasl_password"],
        "KAFKA_ISOLATION_LEVEL=read_committed",
        "KAFKA_CLIENT_ID=ledger-python-consumer  # an inline comment",
        "OTHER_VARIABLE=ignored",
    ]) + "\n")
    path.chmod(0o600)


def java(kind, args):
    return shlex.join(java_apps.java_command(kind, args))


def settings(log):
    """The ``settings:`` lines of a log, each as a dict."""
    return [dict(kv.split("=", 1) for kv in line.split()[1:]) for line in log.splitlines()
            if line.startswith("settings: ")]


def test_java_and_python_apps_on_the_sasl_target(clusters, unique, tmp_path, java_built):
    target = clusters["target"]
    servers = target["bootstrap_servers"]
    topic = unique("java-apps")
    admin = AdminClient(clusters.librdkafka("target"))
    admin.create_topics([NewTopic(topic, 3, 2)])[topic].result(timeout=30)
    wait_topics_on_every_broker(clusters.librdkafka("target"), topic, 3)
    write_java_properties(tmp_path / "producer.properties", target)
    write_spring_yaml(tmp_path / "application.yml", target)
    # the Java apps take their topic from the file (app.topic, what the switch's topic_keys rewrite), not the command line
    with open(tmp_path / "producer.properties", "a") as fh:
        fh.write("app.topic=%s\n" % topic)
    with open(tmp_path / "application.yml", "a") as fh:
        fh.write("app:\n  topic: %s\n" % topic)
    write_env(tmp_path / "consumer.env", target)
    count = 400
    programs = [
        {"name": "jconsumer", "startsecs": 1,
         "command": java("consumer", ["--config", "application.yml", "--format", "yaml", "--group", topic + "-java",
                                      "--ledger", "jconsumer.ledger", "--offset-reset", "earliest"])},
        {"name": "pconsumer", "app": "consumer",
         "args": ["--config", "consumer.env", "--config-format", "env", "--group", topic + "-python", "--topic", topic,
                  "--ledger", "pconsumer.ledger", "--offset-reset", "earliest"]},
        {"name": "jproducer", "startsecs": 1,
         "command": java("producer", ["--config", "producer.properties", "--id", "j1",
                                      "--ledger", "j1.ledger", "--rate", "100", "--count", str(count)])},
    ]
    t0 = int(time.time() * 1000)
    with Supervisor(tmp_path, programs) as sup:
        sup.ctl("start", "jconsumer", "pconsumer", "jproducer")
        wait_for("j1 to be under way", lambda: len(ledger(tmp_path / "j1.ledger")) >= count // 4, 40)
        sup.ctl("stop", "jproducer")          # graceful: the shutdown hook flushes and closes
        assert sup.state("jproducer") == "STOPPED"
        stopped_at = len(ledger(tmp_path / "j1.ledger"))
        assert stopped_at < count
        sup.ctl("start", "jproducer")         # goes on numbering after its ledger
        wait_for("j1 to finish", lambda: sup.state("jproducer") == "EXITED", 40)
        assert "not expected" not in sup.ctl("status", "jproducer", check=False)  # exited 0 (exitcodes=0)
        acked = ledger(tmp_path / "j1.ledger")
        for name in ("jconsumer", "pconsumer"):
            wait_for("%s to process every acknowledged message" % name,
                     lambda name=name: len(ledger(tmp_path / ("%s.ledger" % name))) >= len(acked), 30)
        sup.ctl("stop", "jconsumer", "pconsumer")
        status = sup.ctl("status", check=False)
        logs = {n: (tmp_path / "logs" / ("%s.log" % n)).read_text() for n in ("jproducer", "jconsumer", "pconsumer")}
    t1 = int(time.time() * 1000)

    # the producer numbered 0..count-1 without gap or repeat, across its restart
    assert sorted(int(f[1]) for f in acked) == list(range(count))
    starts = [int(line.rsplit(" ", 1)[1]) for line in logs["jproducer"].splitlines() if "writing to %s" % topic in line]
    assert len(starts) == 2 and starts[0] == 0 and starts[1] == stopped_at, logs["jproducer"]
    assert "stopped at seq %d, 0 unacknowledged, 0 failed" % count in logs["jproducer"]
    # each start: its settings line shows the file's values, then a FIRST-ACK on the configured bootstrap
    produced = settings(logs["jproducer"])
    assert len(produced) == 2
    assert all(s["acks"] == "all" and s["client.id"] == "ledger-java" and s["linger.ms"] == "7"
               and s["enable.idempotence"] == "true" for s in produced), produced
    first_acks = [line.split() for line in logs["jproducer"].splitlines() if line.startswith("FIRST-ACK ")]
    assert len(first_acks) == 2 and all(f[1] == servers and t0 <= int(f[2]) <= t1 for f in first_acks)
    # the ledgers' 7 fields: the bootstrap as configured, an epoch-ms time within the test
    assert all(len(f) == 7 and f[5] == servers and t0 <= int(f[6]) <= t1 for f in acked)
    where = dict(((f[0], int(f[1])), tuple(f[2:5])) for f in acked)
    for name in ("jconsumer", "pconsumer"):
        processed = ledger(tmp_path / ("%s.ledger" % name))
        seen = Counter((f[0], int(f[1])) for f in processed)
        assert [k for k, n in seen.items() if n > 1] == [], name          # nothing processed twice
        assert set(seen) == set(where), name                               # nothing lost, nothing invented
        assert all(where[(f[0], int(f[1]))] == tuple(f[2:5]) for f in processed), name  # where it was written
        assert all(len(f) == 7 and f[5] == servers and t0 <= int(f[6]) <= t1 for f in processed), name
        assert [line.split()[1] for line in logs[name].splitlines() if line.startswith("FIRST-RECORD ")] == [servers]
        assert "stopped after %d messages" % len(processed) in logs[name]
    jset, = settings(logs["jconsumer"])
    assert jset["isolation.level"] == "read_committed" and jset["client.id"] == "ledger-java-consumer", jset
    assert jset["enable.auto.commit"] == "false" and jset["group.id"] == topic + "-java"
    pset, = settings(logs["pconsumer"])
    assert pset["isolation.level"] == "read_committed" and pset["client.id"] == "ledger-python-consumer", pset
    # a clean stop is exit 0 for the JVM too (not 143): supervisord saw no unexpected exit
    assert "not expected" not in status and "FATAL" not in status and "BACKOFF" not in status, status


def test_java_producer_with_a_wrong_password_fails_visibly(clusters, unique, tmp_path, java_built):
    target = clusters["target"]
    topic = unique("java-badauth")
    admin = AdminClient(clusters.librdkafka("target"))
    admin.create_topics([NewTopic(topic, 1, 2)])[topic].result(timeout=30)
    write_java_properties(tmp_path / "bad.properties", target, password="not-the-password")
    started = time.monotonic()
    proc = subprocess.run(java_apps.java_command("producer", [
        "--config", str(tmp_path / "bad.properties"), "--topic", topic, "--id", "bad",
        "--ledger", str(tmp_path / "bad.ledger"), "--rate", "20", "--first-ack-timeout", "6"]),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60, check=False)
    took = time.monotonic() - started
    assert proc.returncode == 2, proc.stdout
    assert "no acknowledgement within 6s" in proc.stdout
    assert "SaslAuthenticationException" in proc.stdout and "invalid credentials" in proc.stdout, proc.stdout
    assert "FIRST-ACK" not in proc.stdout
    assert ledger(tmp_path / "bad.ledger") == []
    assert took < 15, took
