"""kafka_spec_facts against the real clusters: the 3-broker ZooKeeper source and the SCRAM KRaft target."""

import os
import re
import threading
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from ansible_collections.kafkaops.migration.plugins.modules import kafka_spec_facts
from tests.utils.modules import FailJson, run_module
from tests.utils.playbook import run_playbook
from tests.utils.wait import list_offsets, wait_topics_on_every_broker, wait_until

pytestmark = pytest.mark.kafka

TARGET_DIR = os.path.join(os.path.dirname(__file__), "targets", "kafka_spec_facts")


class Made:
    """Topics and groups a test created on one cluster; removed at the end."""

    def __init__(self, conf):
        self.conf = dict(conf)
        self.admin = AdminClient(self.conf)
        self.topics, self.groups = [], []

    def create(self, specs):
        """``specs``: [(name, partitions, rf, {config})] in one batched call."""
        new = [NewTopic(n, num_partitions=p, replication_factor=rf, config=cfg or {}) for n, p, rf, cfg in specs]
        for name, fut in self.admin.create_topics(new, operation_timeout=20, request_timeout=20).items():
            fut.result()
            self.topics.append(name)
        # metadata of every new topic visible with leaders, on every broker
        wait_topics_on_every_broker(self.conf, [spec[0] for spec in specs], {spec[0]: spec[1] for spec in specs})

    def produce(self, topic, count, size=100, partition=None):
        p = Producer(dict(self.conf, **{"linger.ms": 5, "acks": "all"}))
        for i in range(count):
            kwargs = {"partition": partition} if partition is not None else {}
            p.produce(topic, key=b"k%d" % i, value=b"x" * size, **kwargs)
            if i % 500 == 0:
                p.poll(0)
        assert p.flush(20) == 0

    def commit(self, group, topic, partition, offset):
        c = Consumer(dict(self.conf, **{"group.id": group, "enable.auto.commit": False}))
        c.commit(offsets=[TopicPartition(topic, partition, offset)], asynchronous=False)
        c.close()
        self.groups.append(group)

    def cleanup(self):
        if self.groups:
            for fut in self.admin.delete_consumer_groups(self.groups, request_timeout=15).values():
                try:
                    fut.result()
                except Exception:
                    pass
        if self.topics:
            for fut in self.admin.delete_topics(self.topics, operation_timeout=20, request_timeout=20).values():
                try:
                    fut.result()
                except Exception:
                    pass


@pytest.fixture
def source(clusters):
    made = Made(clusters.librdkafka("source"))
    yield made
    made.cleanup()


@pytest.fixture
def target(clusters):
    made = Made(clusters.librdkafka("target"))
    yield made
    made.cleanup()


def wait_written(made, topic, partitions):
    """Wait until ``topic`` holds records (a writer thread's first batches were acknowledged)."""
    tps = [(topic, p) for p in range(partitions)]
    wait_until("records on %s" % topic, lambda: list_offsets(made.admin, tps), lambda ends: sum(ends.values()) > 0)


def _by_name(items, key="name"):
    return dict((i[key], i) for i in items)


def _under(prefix):
    """The include pattern (whole-name match) of the topics named ``<prefix>.<something>``."""
    return re.escape(prefix) + r"\..*"


def test_source_spec_reads_brokers_topics_configs_groups_and_traffic(clusters, source, unique):
    prefix = unique("spec")
    busy, quiet = prefix + ".busy", prefix + ".quiet"
    source.create([(busy, 3, 3, {"retention.ms": "7200000", "max.message.bytes": "2000000"}),
                   (quiet, 2, 3, {"cleanup.policy": "compact", "min.insync.replicas": "2"})])
    source.produce(quiet, 100, size=50, partition=0)
    group = prefix + "-billing"
    source.commit(group, quiet, 0, 40)  # lag 60 on partition 0

    stop = threading.Event()
    sent = []

    def writer():  # ~1 KB records, steadily, while the module samples
        p = Producer(dict(source.conf, **{"linger.ms": 10}))
        while not stop.is_set():
            for dummy in range(50):
                p.produce(busy, value=b"v" * 1000)
            sent.append(50)
            p.poll(0)
            time.sleep(0.05)
        p.flush(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        wait_written(source, busy, 3)  # the writer's traffic is on the brokers before sampling starts
        result = run_module(kafka_spec_facts, {"source": clusters.source, "include": [_under(prefix)],
                                               "sample_window": 2, "sample_interval": 0.5, "timeout": 60})
    finally:
        stop.set()
        thread.join()
    assert result["changed"] is False
    spec = result["spec"]
    assert spec["controller_mode"] == "zookeeper"
    assert [b["id"] for b in spec["brokers"]] == [0, 1, 2]
    assert spec["version"]["reported"] == "3.9"
    assert all(b["inter_broker_protocol_version"].startswith("3.9") for b in spec["brokers"])
    topics = _by_name(spec["topics"])
    assert set(n for n in topics if not topics[n]["internal"]) == {busy, quiet}
    assert _by_name(spec["internal_topics"])["__consumer_offsets"]["kind"] == "consumer offsets"
    b, q = topics[busy], topics[quiet]
    assert b["partitions"] == 3 and b["replication_factor"] == 3
    assert b["configs"] == {"retention.ms": "7200000", "max.message.bytes": "2000000"}  # only the non-default ones
    assert q["configs"] == {"cleanup.policy": "compact", "min.insync.replicas": "2"}
    # traffic measured over the window from offsets, bytes from DescribeLogDirs
    tr = spec["traffic"]
    assert tr["samples"] == 5 and 1.9 <= tr["window_s"] <= 3.0
    assert b["messages_per_s"] > 100 and q["messages_per_s"] == 0
    assert b["bytes_per_s"] > 100 * 1000  # 1 KB values
    # 1000-byte values plus record and batch overhead; sizes and offsets are not read atomically, so a
    # 2 s window on a loaded machine measures within a few percent
    assert 950 <= b["average_message_bytes"] < 1400
    assert tr["peak_bytes_per_s"] >= tr["bytes_per_s"] > 0
    assert tr["size_source"] == "DescribeLogDirs via kafka-python"
    assert q["size_bytes"] > 100 * 50 and q["size_bytes_all_replicas"] == 3 * q["size_bytes"]
    assert q["messages"] == 100
    # the group with its lag
    g = _by_name(spec["groups"], "group_id")[group]
    assert g["state"] == "empty" and g["members"] == 0
    assert g["lag"] == 60 and g["topics"] == {quiet: 60}
    # recommendation with reasons
    rec = spec["recommendation"]
    assert rec["fits"] is True and rec["edition"] == "alikafka-standard-hw.2xlarge"
    assert rec["figures"]["partitions"]["value"] == 5
    assert rec["figures"]["write_mb_s"]["value"] > 0 and "headroom 1.50" in rec["figures"]["write_mb_s"]["reason"]
    assert "retention 2.0 h" in b["disk_reason"]


def test_window_zero_skips_sampling_and_check_mode_reads_the_same(clusters, source, unique):
    prefix = unique("spec0")
    source.create([(prefix + ".t", 1, 1, {})])
    source.produce(prefix + ".t", 10)
    t0 = time.monotonic()
    result = run_module(kafka_spec_facts, {"source": clusters.source, "include": [_under(prefix)], "sample_window": 0,
                                           "groups": False}, check_mode=True)
    assert time.monotonic() - t0 < 10
    spec = result["spec"]
    assert result["changed"] is False
    assert spec["traffic"]["bytes_per_s"] is None and spec["traffic"]["samples"] == 1
    assert spec["groups"] == [] and spec["totals"]["messages"] == 10
    assert "not measured" in spec["recommendation"]["figures"]["write_mb_s"]["reason"]


def test_without_kafka_python_messages_are_measured_and_bytes_reported_unknown(clusters, source, unique, monkeypatch):
    from ansible_collections.kafkaops.migration.plugins.module_utils import spec as core
    prefix = unique("specnk")
    source.create([(prefix + ".t", 1, 1, {})])
    stop = threading.Event()

    def writer():
        p = Producer(dict(source.conf, **{"linger.ms": 5}))
        while not stop.is_set():
            p.produce(prefix + ".t", value=b"x" * 100)
            p.poll(0)
            time.sleep(0.005)
        p.flush(10)

    thread = threading.Thread(target=writer)
    thread.start()
    monkeypatch.setattr(core, "HAS_KAFKA_PYTHON", False)
    try:
        wait_written(source, prefix + ".t", 1)  # the writer's traffic is on the broker before sampling starts
        result = run_module(kafka_spec_facts, {"source": clusters.source, "include": [_under(prefix)], "groups": False,
                                               "sample_window": 1, "sample_interval": 0.5})
    finally:
        stop.set()
        thread.join()
    spec = result["spec"]
    t = _by_name(spec["topics"])[prefix + ".t"]
    assert t["messages_per_s"] > 10 and t["bytes_per_s"] is None and t["size_bytes"] is None
    assert spec["traffic"]["size_source"] == "unavailable" and spec["traffic"]["bytes_per_s"] is None
    assert spec["version"]["reported"] == "3.9"  # from inter.broker.protocol.version
    assert spec["version"]["probed"] == {}
    assert any("kafka-python is not installed" in w for w in spec["warnings"])
    assert "not measured" in spec["recommendation"]["figures"]["write_mb_s"]["reason"]


def test_target_preflight_over_scram_finds_clash_collision_and_limits(clusters, source, target, unique):
    prefix = unique("specpf")
    source.create([(prefix + ".orders", 3, 3, {}), (prefix + ".pay.ments", 2, 3, {})])
    target.create([(prefix + ".orders", 6, 2, {}), (prefix + ".pay_ments", 1, 2, {})])
    args = {"source": clusters.source, "target": clusters.target, "include": [_under(prefix)], "sample_window": 0,
            "groups": False, "target_limits": {"max_partitions": 4}}
    result = run_module(kafka_spec_facts, args)
    pf = result["spec"]["preflight"]
    assert pf["reachable"] is True and pf["controller_mode"] == "kraft" and pf["brokers"] == 2
    assert pf["version"]["reported"] >= "4.0" and pf["version"]["metadata_version_level"] > 0
    assert pf["clashes"] == [{"topic": prefix + ".orders", "source_partitions": 3, "target_partitions": 6,
                              "detail": "target has more partitions (6 > 3): keyed records would land in other partitions"}]
    assert pf["metric_collisions"] == [[prefix + ".pay.ments", prefix + ".pay_ments"]]
    kinds = set(p["kind"] for p in pf["problems"])
    assert {"partitions", "metric_name_collision", "partitions_limit", "replication_factor"} <= kinds
    assert pf["fits"] is False and pf["limits_source"] == "target_limits"
    # nothing was created or changed on the target
    md = target.admin.list_topics(timeout=10)
    assert prefix + ".pay.ments" not in md.topics and len(md.topics[prefix + ".orders"].partitions) == 6
    with pytest.raises(FailJson) as err:
        run_module(kafka_spec_facts, dict(args, fail_on_misfit=True))
    assert "the target does not fit" in err.value.result["msg"]
    assert "exceed the limit 4" in err.value.result["msg"]


def test_preflight_with_an_edition_uses_its_limits(clusters, source, unique):
    prefix = unique("specpe")
    source.create([(prefix + ".one", 1, 3, {"retention.ms": str(30 * 24 * 3600 * 1000)})])
    result = run_module(kafka_spec_facts, {"source": clusters.source, "target": clusters.target, "include": [_under(prefix)],
                                           "sample_window": 0, "groups": False, "edition": "standard"})
    spec = result["spec"]
    assert spec["recommendation"]["fits"] is False  # 30 days retention: Standard keeps 7 at most
    pf = spec["preflight"]
    assert pf["limits_source"] == "edition alikafka-standard-hw.12xlarge"
    assert [p["kind"] for p in pf["problems"] if p["severity"] == "error"] == ["retention"]
    assert pf["new_partitions"] == 2  # raised to Standard's minimum of 2 per topic


def test_unreachable_source_fails_within_the_timeout():
    t0 = time.monotonic()
    with pytest.raises(FailJson) as err:
        run_module(kafka_spec_facts, {"source": {"bootstrap_servers": ["127.0.0.1:1"], "request_timeout": 30}, "timeout": 4,
                                      "sample_window": 1})
    assert time.monotonic() - t0 < 8
    assert "source cluster (127.0.0.1:1)" in err.value.result["msg"]


def test_unreachable_target_fails_naming_the_target(clusters, unique):
    t0 = time.monotonic()
    with pytest.raises(FailJson) as err:
        run_module(kafka_spec_facts, {"source": clusters.source, "target": {"bootstrap_servers": ["127.0.0.1:1"], "request_timeout": 3},
                                      "include": [_under(unique("none"))], "sample_window": 0, "groups": False, "timeout": 20})
    assert time.monotonic() - t0 < 12
    assert "target cluster (127.0.0.1:1)" in err.value.result["msg"]


@pytest.mark.parametrize("extra,fragment", [
    ({"headroom": 0.5}, "headroom must be 1.0 or more"),
    ({"sample_window": -1}, "sample_window must be 0"),
    ({"sample_window": 50, "timeout": 30}, "must be shorter than timeout"),
    ({"edition": "platinum"}, "edition 'platinum' is not in the catalogue"),
    ({"include": ["("]}, "include: '(' is not a valid regular expression"),
    ({"include": []}, "include is empty"),
    ({"editions": [{"name": "x", "max_partitions": -1}]}, "non-negative number"),
])
def test_bad_options_fail_before_any_kafka_call(extra, fragment):
    args = dict({"source": {"bootstrap_servers": ["127.0.0.1:1"]}}, **extra)
    t0 = time.monotonic()
    with pytest.raises(FailJson) as err:
        run_module(kafka_spec_facts, args)
    assert fragment in err.value.result["msg"]
    assert time.monotonic() - t0 < 2  # no connection attempt to the unreachable address


def test_playbook_check_mode_then_real_then_again(clusters, source, target, unique, tmp_path):
    prefix = unique("specpb")
    source.create([(prefix + ".orders", 2, 3, {"retention.ms": "3600000"})])
    source.produce(prefix + ".orders", 20)
    target.create([(prefix + ".orders", 2, 2, {})])
    rc, out = run_playbook(os.path.join(TARGET_DIR, "playbook.yml"),
                           {"kafka_source": clusters.source, "kafka_target": clusters.target,
                            "kafka_spec_facts_prefix": prefix})
    assert rc == 0, out[-3000:]
    assert "failed=0" in out and "changed=0" in out
    assert "admin-secret" not in out


def _alias_of(options):
    """The same cluster under another spelling: ``127.0.0.1:PORT`` <-> ``localhost:PORT``."""
    def swap(server):
        host, _sep, port = server.rpartition(":")
        return "%s:%s" % ("localhost" if host == "127.0.0.1" else "127.0.0.1", port)
    return dict(options, bootstrap_servers=[swap(s) for s in options["bootstrap_servers"]])


def test_the_source_given_twice_as_target_is_refused_before_anything_is_read(clusters, source, unique):
    alias = _alias_of(clusters.source)
    assert alias["bootstrap_servers"] != clusters.source["bootstrap_servers"]
    with pytest.raises(FailJson) as err:
        run_module(kafka_spec_facts, {"source": clusters.source, "target": alias, "include": [_under(unique("none"))],
                                      "sample_window": 0, "groups": False, "timeout": 30})
    msg = err.value.result["msg"]
    assert "the source and the target are the same cluster" in msg and "nothing was read or written" in msg
    assert "spec" not in err.value.result
    # the real target passes the same check
    source.create([(unique("twice") + ".a", 1, 1, {})])
    result = run_module(kafka_spec_facts, {"source": clusters.source, "target": clusters.target,
                                           "include": [_under(unique("twice"))], "sample_window": 0, "groups": False,
                                           "timeout": 30})
    assert result["spec"]["preflight"]["cluster_id"] != result["spec"]["cluster_id"]


def test_group_lag_on_a_transactional_topic_is_zero_once_consumed(clusters, source, unique):
    """The one lag definition: trailing commit/abort markers and aborted records are not lag."""
    prefix = unique("spectx")
    topic, group = prefix + ".tx", prefix + "-reader"
    source.create([(topic, 1, 3, {})])
    p = Producer(dict(source.conf, **{"transactional.id": prefix + "-tx", "acks": "all"}))
    p.init_transactions(20)
    p.begin_transaction()
    for i in range(5):
        p.produce(topic, key=b"c%d" % i, value=b"committed", partition=0)
    p.commit_transaction(20)   # records 0..4, marker 5
    p.begin_transaction()
    for i in range(3):
        p.produce(topic, key=b"a%d" % i, value=b"aborted", partition=0)
    assert p.flush(20) == 0    # on the broker before the abort (an abort purges what was not sent yet)
    p.abort_transaction(20)    # records 6..8 aborted, marker 9
    admin = AdminClient(source.conf)
    from confluent_kafka import IsolationLevel
    from confluent_kafka.admin import OffsetSpec
    deadline = time.monotonic() + 20
    while True:  # the markers are written after commit/abort return: wait until the LSO covers both
        fut = admin.list_offsets({TopicPartition(topic, 0): OffsetSpec.latest()},
                                 isolation_level=IsolationLevel.READ_COMMITTED, request_timeout=10)
        if list(fut.values())[0].result().offset >= 10:
            break
        assert time.monotonic() < deadline, "LSO never reached 10"
        time.sleep(0.2)
    source.commit(group, topic, 0, 5)  # last committed record + 1: only markers and aborted records after it
    base = {"source": clusters.source, "include": [_under(prefix)], "sample_window": 0, "measure_size": False}
    spec = run_module(kafka_spec_facts, base)["spec"]
    g = _by_name(spec["groups"], "group_id")[group]
    assert g["lag"] == 0 and g["topics"] == {topic: 0} and g["partitions_not_drained"] == 0
    # a group one committed record behind is behind by the upper bound log end - committed
    other = prefix + "-behind"
    source.commit(other, topic, 0, 4)
    spec = run_module(kafka_spec_facts, base)["spec"]
    g = _by_name(spec["groups"], "group_id")[other]
    assert g["lag"] == 6 and g["partitions_not_drained"] == 1
    # read_uncommitted consumers receive the aborted records: they are lag for them
    spec = run_module(kafka_spec_facts, dict(base, isolation_level="read_uncommitted"))["spec"]
    assert _by_name(spec["groups"], "group_id")[group]["lag"] == 4  # 6, 7, 8 and the marker 9 ahead of 6..8


def test_old_topics_alias_selects_whole_names_and_warns_about_unmatched_patterns(clusters, source, unique):
    prefix = unique("specal")
    source.create([(prefix + ".a", 1, 1, {}), (prefix + ".ab", 1, 1, {})])
    spec = run_module(kafka_spec_facts, {"source": clusters.source, "topics": [re.escape(prefix + ".a"), "^" + prefix],
                                         "exclude_topics": [], "sample_window": 0, "groups": False,
                                         "measure_size": False})["spec"]
    names = set(t["name"] for t in spec["topics"] if not t["internal"])
    assert names == {prefix + ".a"}  # whole-name match: prefix.ab is not selected
    assert any("matches no topic" in w and "^" + prefix in w for w in spec["warnings"])
