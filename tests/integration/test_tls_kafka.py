"""Every module over the target's TLS listeners, like a managed service's: ``SASL_SSL`` (SCRAM, the test
CA trusted, host name verification on) and ``SSL`` with a client certificate (mutual TLS).

The source is the PLAINTEXT source cluster, the target one of the TLS listeners (``clusters.on_tls``):
kafka_spec_facts, kafka_topic_sync, kafka_mirror, kafka_group_sync and kafka_lag_wait do a small
migration over each; kafka_client_config writes an application's file for each listener in both dialects
(librdkafka: ``ssl.ca.location``...; Java: the PEM truststore ``ssl.truststore.type=PEM``, a PKCS12
keystore for mutual TLS) and the file is proven by real clients: confluent-kafka, and the Java demo
producer and consumer (Kafka's own client). Then an application switch (migrate.yml's consumers,
producers and drain steps) of a Java and a librdkafka producer onto the SASL_SSL listener, with
nothing lost and nothing processed twice.

Negative: an untrusted CA fails within a bounded time with librdkafka's cause (``certificate verify
failed``) and the connection helper's hint, and creates nothing; the mutual-TLS listener without a
client certificate fails within a bounded time, naming the cluster.
"""

import importlib.util
import os
import re
import signal
import subprocess

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from ansible_collections.kafkaops.migration.plugins.modules import (
    kafka_client_config,
    kafka_group_sync,
    kafka_lag_wait,
    kafka_mirror,
    kafka_spec_facts,
    kafka_topic_sync,
)
from tests.integration.test_app_switch_kafka import Rig, _build_module, run
from tests.integration.test_demo_apps import ledger, wait_for
from tests.integration.test_roles_kafka import run_with_inventory
from tests.utils.isolated import run_module_isolated
from tests.utils.modules import run_module
from tests.utils.wait import list_offsets, wait_committed, wait_topics_on_every_broker, wait_until

pytestmark = pytest.mark.kafka

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
APPS = os.path.join(REPO, "demo", "apps")
# a failure must come within a few tens of seconds (request_timeout 5 s, the module's own timeout 30 s)
FAIL_WITHIN = 20
HANG_AFTER = 60


def _demo_common():
    spec = importlib.util.spec_from_file_location("demo_apps_common", os.path.join(APPS, "common.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


DEMO = _demo_common()


@pytest.fixture(params=["sasl_ssl", "ssl"], ids=["sasl_ssl", "mtls"])
def tls(request, clusters):
    """The clusters with the target reached over one TLS listener (``sasl_ssl`` or ``ssl``, mutual TLS)."""
    return clusters.on_tls(request.param)


@pytest.fixture(scope="module")
def java_apps():
    """The Java ledger apps (demo/apps/java), compiled once (cached by the sources' hash)."""
    mod = _build_module()
    mod.build()
    return mod


def source_topic(clusters, topic, partitions=2, records=10):
    """A topic on the source with ``records`` keyed records spread over its partitions; their values."""
    admin = AdminClient(clusters.librdkafka("source"))
    admin.create_topics([NewTopic(topic, partitions, 2)])[topic].result(30)
    wait_topics_on_every_broker(clusters.librdkafka("source"), topic, partitions)
    producer = Producer(clusters.librdkafka("source"))
    values = [b"v%d" % i for i in range(records)]
    for i, value in enumerate(values):
        producer.produce(topic, value, b"k%d" % i, partition=i % partitions)
    assert producer.flush(30) == 0
    return values


def target_topic(conf, topic, partitions=2):
    admin = AdminClient(conf)
    admin.create_topics([NewTopic(topic, partitions, 2)])[topic].result(30)
    wait_topics_on_every_broker(conf, topic, partitions)


def commit(conf, group, offsets):
    """Commit ``offsets`` for ``group`` as its consumer would (a consumer's commit finds the coordinator and
    retries while a fresh cluster creates __consumer_offsets), then wait until the broker shows them."""
    consumer = Consumer(dict(conf, **{"group.id": group, "enable.auto.commit": False}))
    try:
        def attempt():
            try:
                consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False)
                return True
            except KafkaException as exc:  # e.g. COORDINATOR_NOT_AVAILABLE while __consumer_offsets is created
                err = exc.args[0]
                if err.retriable() or err.code() in (KafkaError._TIMED_OUT, KafkaError.COORDINATOR_NOT_AVAILABLE,
                                                     KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS):
                    return False
                raise
        wait_until("a commit of group %s" % group, attempt, timeout=120)
    finally:
        consumer.close()
    wait_committed(AdminClient(conf), group, offsets)


def consume(conf, topic, count, timeout=60.0):
    """The values of the first ``count`` records of ``topic`` (read_committed, from the start), within ``timeout``."""
    consumer = Consumer(dict(conf, **{"group.id": "tls-reader-%s" % os.urandom(4).hex(),
                                      "auto.offset.reset": "earliest", "enable.auto.commit": False,
                                      "isolation.level": "read_committed"}))
    consumer.subscribe([topic])
    got = []

    def probe():
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            got.append(msg.value())
        return len(got)

    try:
        wait_until("%d records of %s" % (count, topic), probe, lambda n: n >= count, timeout, interval=0.0,
                   max_interval=0.0)
    finally:
        consumer.close()
    return got


def topics_on(conf, prefix):
    return sorted(n for n in AdminClient(conf).list_topics(timeout=10).topics if n.startswith(prefix))


def test_the_harness_describes_its_tls_listeners(clusters):
    tls = clusters.tls
    for key in ("ca_location", "wrong_ca_location", "client_certificate_location", "client_key_location",
                "client_keystore_location", "truststore_location"):
        assert os.path.isfile(tls[key]), key
    assert tls["client_principal"] == "User:CN=kafkaops-client"
    assert clusters.target_sasl_ssl["security_protocol"] == "SASL_SSL"
    assert clusters.target_sasl_ssl["ssl_check_hostname"] is True
    assert clusters.target_mtls["security_protocol"] == "SSL" and "sasl_username" not in clusters.target_mtls
    # every broker answers on each TLS listener, in its own metadata under that listener's address
    for listener in ("sasl_ssl", "ssl"):
        conf = clusters.on_tls(listener).librdkafka("target")
        servers = conf["bootstrap.servers"].split(",")
        for server in servers:
            md = AdminClient(dict(conf, **{"bootstrap.servers": server})).list_topics(timeout=10)
            assert sorted("%s:%d" % (b.host, b.port) for b in md.brokers.values()) == sorted(servers)


def test_every_module_over_tls(tls, clusters, unique, tmp_path):
    topic, group, map_topic = unique("tls-orders"), unique("tls-app"), unique("tls-map")
    values = source_topic(clusters, topic)
    commit(clusters.librdkafka("source"), group, {(topic, 0): 5, (topic, 1): 5})   # consumed everything
    pair = {"source": clusters.source, "target": tls.target}
    include = [re.escape(topic)]
    target_conf = tls.librdkafka("target")

    res = run_module(kafka_spec_facts, dict(pair, include=include, sample_window=0))
    pf = res["spec"]["preflight"]
    assert pf["reachable"] is True and pf["controller_mode"] == "kraft" and pf["brokers"] == 2, pf
    assert pf["fits"] is True, pf
    warnings = res["spec"]["warnings"]
    assert not [w for w in warnings if "target" in w and "could not connect" in w], warnings

    res = run_module(kafka_topic_sync, dict(pair, include=include, timeout=60))
    assert res["changed"] is True and res["created"] == [topic] and res["failed_topics"] == {}, res
    wait_topics_on_every_broker(target_conf, topic, 2)
    assert run_module(kafka_topic_sync, dict(pair, include=include, timeout=60))["changed"] is False

    res = run_module(kafka_mirror, dict(pair, name=unique("tls-mirror"), include=include, offset_map_topic=map_topic,
                                        progress_file=str(tmp_path / "progress.json"), timeout=120))
    assert res["records"] == len(values), res
    assert sorted(consume(target_conf, topic, len(values))) == sorted(values)

    res = run_module(kafka_group_sync, dict(pair, groups=[{"name": group}], policy="translate",
                                            offset_map_topic=map_topic))
    assert res["changed"] is True, res
    # just after the last copied record of each partition (5 records each, offsets 0-4; the copy's commit
    # marker after them holds nothing to read): nothing read twice, nothing left out
    admin = AdminClient(target_conf)
    assert list_offsets(admin, [(topic, 0), (topic, 1)], spec=OffsetSpec.latest()) == {(topic, 0): 6, (topic, 1): 6}
    wait_committed(admin, group, {(topic, 0): 5, (topic, 1): 5})

    res = run_module(kafka_lag_wait, {"cluster": tls.target, "groups": [group], "topics": [topic], "interval": 0.5,
                                      "timeout": 60})
    assert res["drained"] is True and res["outcome"] == "drained", res


def _read_properties(path):
    """Every ``key=value`` line of a properties file kafka_client_config wrote (it escapes no value here)."""
    out = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith(("#", "!")):
            key, _sep, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def test_client_config_librdkafka_file_works_with_confluent_kafka(tls, clusters, unique, tmp_path):
    topic = unique("tls-rdk")
    target_topic(tls.librdkafka("target"), topic)
    path = tmp_path / "app.properties"
    path.write_text("# the app's own settings\nbootstrap.servers=%s\nclient.id=tls-app\n"
                    % clusters["source"]["bootstrap_servers"])
    res = run_module(kafka_client_config, {"cluster": tls.target, "path": str(path), "dialect": "librdkafka"})
    assert res["changed"] is True
    written = _read_properties(path)
    assert written["bootstrap.servers"] == tls["target"]["bootstrap_servers"]
    assert written["security.protocol"] == tls["target"]["security_protocol"]
    assert written["ssl.ca.location"] == clusters.tls["ca_location"]
    assert "ssl.endpoint.identification.algorithm" not in written   # librdkafka verifies the host by default
    assert written["client.id"] == "tls-app"
    if tls["target"]["security_protocol"] == "SSL":
        assert written["ssl.certificate.location"] == clusters.tls["client_certificate_location"]
        assert written["ssl.key.location"] == clusters.tls["client_key_location"]
        assert not [k for k in written if k.startswith("sasl.")]
    else:
        assert written["sasl.mechanism"] == "SCRAM-SHA-512" and written["sasl.username"] == "admin"

    # the demo apps' reader takes the file as the application would; a client built from it alone works
    conf = DEMO.read_config(str(path), "properties", "producer")
    producer = Producer(dict(conf, **{"acks": "all"}))
    values = [b"rdk-%d" % i for i in range(5)]
    for value in values:
        producer.produce(topic, value)
    assert producer.flush(30) == 0
    assert sorted(consume(DEMO.read_config(str(path), "properties", "consumer"), topic, len(values))) == values


def test_client_config_java_file_works_with_the_java_client(tls, clusters, unique, tmp_path, java_apps):
    topic = unique("tls-java")
    target_topic(tls.librdkafka("target"), topic)
    path = tmp_path / "java.properties"
    path.write_text("# orders service\nbootstrap.servers=%s\nsecurity.protocol=PLAINTEXT\nacks=all\n"
                    "client.id=tls-java\n" % clusters["source"]["bootstrap_servers"])
    args = {"cluster": tls.target, "path": str(path), "dialect": "java"}
    mtls = tls["target"]["security_protocol"] == "SSL"
    if mtls:   # Java takes the client certificate and key from a keystore
        tl = clusters.tls
        args["cluster"] = dict((k, v) for k, v in tls.target.items()
                               if k not in ("ssl_certificate_location", "ssl_key_location"))
        args["keystore"] = {"location": tl["client_keystore_location"], "password": tl["client_keystore_password"],
                            "type": tl["client_keystore_type"]}
    res = run_module(kafka_client_config, args)
    assert res["changed"] is True
    written = _read_properties(path)
    assert written["bootstrap.servers"] == tls["target"]["bootstrap_servers"]
    assert written["security.protocol"] == tls["target"]["security_protocol"]
    assert written["ssl.truststore.type"] == "PEM" and written["ssl.truststore.location"] == clusters.tls["ca_location"]
    assert "ssl.endpoint.identification.algorithm" not in written or written["ssl.endpoint.identification.algorithm"]
    if mtls:
        assert written["ssl.keystore.location"] == clusters.tls["client_keystore_location"]
        assert written["ssl.keystore.type"] == "PKCS12" and "sasl.jaas.config" not in written
    else:
        assert "ScramLoginModule required" in written["sasl.jaas.config"]

    # the Java producer writes 20 numbered records with this file, the Java consumer reads them back
    count = 20
    produced = subprocess.run(java_apps.java_command("producer", [
        "--config", str(path), "--topic", topic, "--id", "jtls", "--ledger", str(tmp_path / "p.ledger"),
        "--rate", "100", "--count", str(count), "--first-ack-timeout", "30"]),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120, check=False)
    assert produced.returncode == 0, produced.stdout
    assert "FIRST-ACK %s " % tls["target"]["bootstrap_servers"] in produced.stdout, produced.stdout
    acked = ledger(tmp_path / "p.ledger")
    assert sorted(int(f[1]) for f in acked) == list(range(count))
    log = open(tmp_path / "c.log", "w")
    consumer = subprocess.Popen(java_apps.java_command("consumer", [
        "--config", str(path), "--group", unique("tls-jgroup"), "--topic", topic,
        "--ledger", str(tmp_path / "c.ledger"), "--offset-reset", "earliest"]),
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for("the Java consumer to read %d records over %s" % (count, tls["target"]["security_protocol"]),
                 lambda: len(ledger(tmp_path / "c.ledger")) >= count or consumer.poll() is not None, 90)
    finally:
        if consumer.poll() is None:
            consumer.send_signal(signal.SIGTERM)
        rc = consumer.wait(30)
        log.close()
    output = (tmp_path / "c.log").read_text()
    assert rc == 0, output
    processed = ledger(tmp_path / "c.ledger")
    assert sorted((f[0], int(f[1])) for f in processed) == sorted((f[0], int(f[1])) for f in acked), output


def _failing_topic_sync(clusters, target, include):
    """kafka_topic_sync that must fail: ``(message, seconds)``. In a child process, killed after HANG_AFTER
    seconds, so that a module that never returns fails this test instead of hanging the session."""
    failed, result, took = run_module_isolated("kafka_topic_sync", {
        "source": clusters.source, "target": target, "include": include, "timeout": 30}, HANG_AFTER)
    assert failed, "kafka_topic_sync did not fail: %s" % result
    return result["msg"], took["module"]


def test_an_untrusted_ca_fails_fast_with_the_cause_and_creates_nothing(tls, clusters, unique):
    topic = unique("tls-wrongca")
    source_topic(clusters, topic, records=1)
    bad = dict(tls.target, ssl_ca_location=clusters.tls["wrong_ca_location"], request_timeout=5)
    msg, took = _failing_topic_sync(clusters, bad, [re.escape(topic)])
    print("wrong CA (%s), %.1fs: %s" % (tls["target"]["security_protocol"], took, msg))
    assert took < FAIL_WITHIN, (took, msg)
    assert msg.startswith("target cluster (%s)" % tls["target"]["bootstrap_servers"]), msg
    assert "certificate verify failed" in msg, msg
    assert "not signed by a CA this client trusts" in msg, msg
    assert "admin-secret" not in msg
    # nothing on the target, seen through the good connection
    assert topics_on(tls.librdkafka("target"), topic) == []


def test_mtls_without_a_client_certificate_fails_fast_naming_the_cluster(clusters, unique):
    topic = unique("tls-nocert")
    source_topic(clusters, topic, records=1)
    mtls = clusters.on_tls("ssl")
    nocert = dict((k, v) for k, v in mtls.target.items() if k not in ("ssl_certificate_location", "ssl_key_location"))
    nocert["request_timeout"] = 5
    msg, took = _failing_topic_sync(clusters, nocert, [re.escape(topic)])
    print("mTLS without a client certificate, %.1fs: %s" % (took, msg))
    assert took < FAIL_WITHIN, (took, msg)
    assert msg.startswith("target cluster (%s)" % mtls["target"]["bootstrap_servers"]), msg
    assert re.search(r"alert bad certificate|certificate required", msg), msg    # librdkafka's cause
    assert "the listener requires a client certificate (mutual TLS)" in msg, msg   # the helper's hint
    assert topics_on(mtls.librdkafka("target"), topic) == []


def _run_logged(inventory, extra, tags, limit):
    """migrate.yml in the background, its output in ``run.log`` beside the inventory (readable while it runs);
    killed after ``limit`` seconds, failing the test with the last lines of that output."""
    proc = run_with_inventory(inventory, extra, tags, background=True)
    log = os.path.join(os.path.dirname(str(inventory)), "run.log")
    try:
        rc = proc.wait(limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(30)
        with open(log) as fh:
            pytest.fail("migrate.yml --tags %s had not finished after %ds; its output ends:\n%s"
                        % (tags, limit, fh.read()[-5000:]))
    with open(log) as fh:
        return rc, fh.read()


@pytest.mark.slow
@pytest.mark.timeout(900)   # the applications' start-ups and three plays: minutes on a busy machine
def test_a_java_and_a_librdkafka_producer_switch_onto_the_sasl_ssl_target(clusters, unique, tmp_path, java_apps):
    tls = clusters.on_tls("sasl_ssl")
    rig = Rig(tls, tmp_path, unique, "tls-switch", java=java_apps)
    group = unique("tls-billing")
    old = rig.add("billing-old", "consumer", "python", "properties", "librdkafka", group=group,
                  extra_args=["--offset-reset", "earliest"])
    new = rig.add("billing-new", "consumer", "java", "yaml", "java", group=group)
    p1 = rig.add("p1", "producer", "java", "properties", "java")
    p2 = rig.add("p2", "producer", "python", "properties", "librdkafka")
    inventory = rig.inventory(consumers={"app-1": [new.describe()]},
                              old_consumers={"app-1": [{"services": [old.name]}]},
                              producers={"app-p1": [p1.describe()], "app-p2": [p2.describe()]})
    extra = rig.extra([group])
    assert extra["kafka_target"]["security_protocol"] == "SASL_SSL"

    with rig.start_supervisor() as sup:
        sup.ctl("start", old.name, p1.name, p2.name)
        wait_for("the old consumer to process and commit", lambda: len(old.ledger()) >= 30, 120)
        rc, out = run(inventory, extra, "topics,groups")
        assert rc == 0, out[-4000:]
        rc, out = _run_logged(inventory, extra, "consumers,producers,drain", 600)
        assert rc == 0, out[-5000:]
        assert "admin-secret" not in out
        assert sup.state(old.name) == "STOPPED"
        assert all(sup.state(a.name) == "RUNNING" for a in (new, p1, p2))
        java_text, rdk_text, yaml_text = p1.config.read_text(), p2.config.read_text(), new.config.read_text()
        ca = clusters.tls["ca_location"]
        assert "security.protocol=SASL_SSL" in java_text and "ssl.truststore.type=PEM" in java_text
        assert "ssl.truststore.location=%s" % ca in java_text
        assert "security.protocol=SASL_SSL" in rdk_text and "ssl.ca.location=%s" % ca in rdk_text
        assert "SASL_SSL" in yaml_text and ca in yaml_text
        rig.wait_written(rig.target_servers, 10)
        rig.finish([new.name])

    figures = rig.check_ledgers()
    assert figures["on_source"] > 0 and figures["on_target"] > 0, figures
    print("TLS switch ledger figures:", figures)
