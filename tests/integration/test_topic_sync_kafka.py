"""kafka_topic_sync against the real clusters: 3-broker ZooKeeper 3.9 source -> 2-broker KRaft 4.x target."""

import os
import time

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from ansible_collections.kafkaops.migration.plugins.module_utils.connection import Cluster
from ansible_collections.kafkaops.migration.plugins.module_utils.topics import SyncOptions, sync
from ansible_collections.kafkaops.migration.plugins.modules import kafka_topic_sync
from tests.utils.modules import FailJson, run_module
from tests.utils.playbook import run_playbook
from tests.utils.wait import wait_topic_overrides, wait_topics_on_every_broker

pytestmark = pytest.mark.kafka

TARGET_DIR = os.path.join(os.path.dirname(__file__), "targets", "kafka_topic_sync")


class Side:
    """An AdminClient on one cluster that remembers the topics it made, to delete them afterwards."""

    def __init__(self, conf):
        self.conf = conf
        self.admin = AdminClient(conf)
        self.made = set()

    def create(self, specs):
        """specs: {name: (partitions, rf, {config})}"""
        futs = self.admin.create_topics([NewTopic(n, p, r, config=c) for n, (p, r, c) in specs.items()],
                                        operation_timeout=20, request_timeout=30)
        for name, fut in futs.items():
            fut.result(timeout=30)
            self.made.add(name)
        # a KRaft controller acknowledges before every broker's metadata shows the topic
        wait_topics_on_every_broker(self.conf, list(specs), dict((n, spec[0]) for n, spec in specs.items()))

    def topics(self, prefix):
        md = self.admin.list_topics(timeout=10)
        return dict((n, t) for n, t in md.topics.items() if n.startswith(prefix))

    def partitions(self, name):
        md = self.admin.list_topics(timeout=10).topics.get(name)
        return len(md.partitions) if md is not None and md.error is None else 0

    def rf(self, name):
        t = self.admin.list_topics(topic=name, timeout=10).topics[name]
        return max(len(p.replicas) for p in t.partitions.values())

    def overrides(self, name):
        res = ConfigResource("topic", name)
        entries = self.admin.describe_configs([res])[res].result(timeout=20)
        return dict((k, e.value) for k, e in entries.items() if e.source == 1)

    def cleanup(self, prefix):
        names = list(self.topics(prefix)) + [n for n in self.made if n.startswith(prefix)]
        names = sorted(set(names))
        if names:
            for fut in self.admin.delete_topics(names, operation_timeout=20).values():
                try:
                    fut.result(timeout=30)
                except Exception:  # noqa: BLE001 - best effort
                    pass


@pytest.fixture
def sides(clusters, unique):
    prefix = unique("tsync")
    source, target = Side(clusters.librdkafka("source")), Side(clusters.librdkafka("target"))
    yield prefix, source, target
    source.cleanup(prefix)
    target.cleanup(prefix)


def module_args(clusters, prefix, **kw):
    args = {"source": clusters.source, "target": clusters.target, "include": [prefix + r"\..*"], "timeout": 60}
    args.update(kw)
    return args


def wait_for(check, seconds=10):
    end = time.monotonic() + seconds
    while True:
        if check() or time.monotonic() > end:
            return check()
        time.sleep(0.2)


def test_create_with_auto_rf_configs_check_mode_diff_and_idempotence(clusters, sides):
    prefix, source, target = sides
    source.create({
        prefix + ".orders": (6, 3, {"retention.ms": "86400000", "cleanup.policy": "compact",
                                    "min.insync.replicas": "3", "message.downconversion.enable": "false"}),
        prefix + ".logs": (2, 1, {"max.message.bytes": "2000000"}),
        prefix + ".plain": (1, 3, {}),
    })
    args = module_args(clusters, prefix)

    # check mode: the plan and the diff, nothing on the target
    res = run_module(kafka_topic_sync, args, check_mode=True, diff=True)
    assert res["changed"] is True
    assert res["created"] == [prefix + ".logs", prefix + ".orders", prefix + ".plain"]
    assert res["diff"]["before"][prefix + ".orders"] == {"state": "absent"}
    after = res["diff"]["after"][prefix + ".orders"]
    assert after["partitions"] == 6 and after["replication_factor"] == 2
    assert after["configs"] == {"retention.ms": "86400000", "cleanup.policy": "compact", "min.insync.replicas": "2"}
    assert target.topics(prefix) == {}

    # for real
    res = run_module(kafka_topic_sync, args)
    assert res["changed"] is True and res["failed_topics"] == {}
    assert sorted(res["created"]) == sorted([prefix + ".orders", prefix + ".logs", prefix + ".plain"])
    assert res["adjusted"][prefix + ".orders"]["min.insync.replicas"]["target"] == "2"
    assert res["not_copied"][prefix + ".orders"] == {"message.downconversion.enable": "message.downconversion.enable"}
    orders = prefix + ".orders"
    wait_topics_on_every_broker(target.conf, [orders, prefix + ".logs", prefix + ".plain"], {orders: 6})
    assert target.rf(orders) == 2
    assert target.rf(prefix + ".logs") == 1 and target.rf(prefix + ".plain") == 2
    wait_topic_overrides(target.conf, orders, {"retention.ms": "86400000", "cleanup.policy": "compact", "min.insync.replicas": "2"})
    wait_topic_overrides(target.conf, prefix + ".logs", {"max.message.bytes": "2000000"})

    # again: nothing to do
    res = run_module(kafka_topic_sync, args, diff=True)
    assert res["changed"] is False
    assert res["created"] == [] and res["drift"] == {} and "diff" not in res
    assert res["summary"]["unchanged"] == 3 and res["summary"]["selected"] == 3


def test_expansion_more_partitions_and_drift_then_align(clusters, sides):
    prefix, source, target = sides
    grow, more, drifted = prefix + ".grow", prefix + ".more", prefix + ".drift"
    source.create({grow: (8, 2, {}), more: (2, 2, {}), drifted: (3, 2, {"retention.ms": "3600000", "segment.ms": "600000"})})
    target.create({grow: (3, 2, {}), more: (5, 2, {}), drifted: (3, 2, {"retention.ms": "7200000", "flush.ms": "1000",
                                                                        "max.message.bytes": "500000"})})
    args = module_args(clusters, prefix)

    res = run_module(kafka_topic_sync, args, check_mode=True, diff=True)
    assert res["changed"] is True and res["expanded"] == [grow] and res["altered"] == []
    assert res["diff"]["before"] == {grow: {"state": "present", "partitions": 3}}
    assert res["diff"]["after"] == {grow: {"state": "present", "partitions": 8}}
    assert target.partitions(grow) == 3
    assert res["drift"][more]["partitions"]["target"] == 5
    assert res["drift"][drifted]["configs"] == {
        "retention.ms": {"source": "3600000", "target": "7200000"},
        "segment.ms": {"source": "600000", "target": "604800000"},
        "max.message.bytes": {"source": None, "target": "500000"},   # flush.ms: deny-listed, not reported
    }

    res = run_module(kafka_topic_sync, args)
    assert res["changed"] is True and res["expanded"] == [grow]
    wait_topics_on_every_broker(target.conf, grow, 8)
    assert target.partitions(more) == 5   # never shrunk
    assert target.overrides(drifted)["retention.ms"] == "7200000"           # only reported

    # align, check mode first
    res = run_module(kafka_topic_sync, dict(args, align_configs=True), check_mode=True, diff=True)
    assert res["changed"] is True and res["altered"] == [drifted]
    assert res["diff"]["before"][drifted]["configs"] == {"retention.ms": "7200000", "segment.ms": "604800000"}
    assert res["diff"]["after"][drifted]["configs"] == {"retention.ms": "3600000", "segment.ms": "600000"}
    assert target.overrides(drifted)["retention.ms"] == "7200000"

    res = run_module(kafka_topic_sync, dict(args, align_configs=True, remove_extra_configs=True))
    assert res["changed"] is True and res["altered"] == [drifted]
    # every broker shows the aligned configs before the next run reads them (deny-listed flush.ms kept)
    wait_topic_overrides(target.conf, drifted, {"retention.ms": "3600000", "segment.ms": "600000", "flush.ms": "1000"})

    res = run_module(kafka_topic_sync, dict(args, align_configs=True, remove_extra_configs=True))
    assert res["changed"] is False
    assert list(res["drift"]) == [more]   # the partition surplus stays reported


def test_partial_failure_reported_per_topic_others_created(clusters, sides):
    prefix, source, target = sides
    good1, good2, legacy = prefix + ".a", prefix + ".b", prefix + ".legacy"
    source.create({good1: (2, 1, {"retention.ms": "1000000"}), good2: (1, 1, {}),
                   legacy: (1, 1, {"message.format.version": "2.8"})})
    # an empty deny-list copies message.format.version, which Kafka 4 no longer knows
    args = module_args(clusters, prefix, deny_configs=[])

    with pytest.raises(FailJson) as err:
        run_module(kafka_topic_sync, args, check_mode=True)
    res = err.value.result
    assert list(res["failed_topics"]) == [legacy] and "message.format.version" in res["failed_topics"][legacy]
    assert res["created"] == [good1, good2]
    assert target.topics(prefix) == {}

    with pytest.raises(FailJson) as err:
        run_module(kafka_topic_sync, args)
    res = err.value.result
    assert "1 topic(s) failed on the target" in res["msg"] and legacy in res["msg"]
    assert res["changed"] is True and res["created"] == [good1, good2]
    wait_topics_on_every_broker(target.conf, [good1, good2])
    assert sorted(target.topics(prefix)) == [good1, good2], target.topics(prefix)

    # with the default deny-list the legacy topic goes through, without the removed config
    res = run_module(kafka_topic_sync, module_args(clusters, prefix))
    assert res["created"] == [legacy] and res["not_copied"][legacy] == {"message.format.version": "message.format.version"}


def test_validation_fails_before_any_change(clusters, sides):
    prefix, source, target = sides
    source.create({prefix + ".rf3": (1, 3, {}), prefix + ".rf1": (1, 1, {})})
    with pytest.raises(FailJson) as err:
        run_module(kafka_topic_sync, module_args(clusters, prefix, replication_factor="keep"))
    res = err.value.result
    assert "nothing was changed on the target" in res["msg"]
    assert list(res["invalid"]) == [prefix + ".rf3"] and "exceeds the 2 brokers" in res["invalid"][prefix + ".rf3"]
    assert res["changed"] is False

    with pytest.raises(FailJson) as err:
        run_module(kafka_topic_sync, module_args(clusters, prefix, config_overrides={"message.format.version": "3.0"}))
    assert "deny-listed" in err.value.result["msg"]

    with pytest.raises(FailJson) as err:
        run_module(kafka_topic_sync, module_args(clusters, prefix, include=["(" + prefix]))
    assert "not a valid regular expression" in err.value.result["msg"]
    assert target.topics(prefix) == {}


def test_internal_topics_never_copied_and_broker_config_sources(clusters, sides):
    prefix, source, target = sides
    # a MirrorMaker 2 heartbeats topic of the test's own: __consumer_offsets exists only once some group
    # used the cluster, so whether it is listed depends on the tests that ran before
    beats = prefix + ".heartbeats"
    source.create({prefix + ".data": (1, 1, {}), beats: (1, 1, {})})
    opts = SyncOptions(include=["__consumer_offsets", prefix + r"\..*"], config_sources=["topic", "broker"])
    src, tgt = Cluster(clusters.source, "source"), Cluster(clusters.target, "target")
    result = sync(src, tgt, opts, check_mode=True)[0]
    skipped = dict(result["skipped_topics"])
    assert skipped.pop(beats) == "internal topic (MirrorMaker 2)"
    assert skipped in ({}, {"__consumer_offsets": "internal topic (consumer offsets)"})
    assert sorted(result["planned"]["create"]) == [prefix + ".data"]
    # the harness sets log.segment.bytes on the source brokers: copied as a topic config when asked
    assert result["planned"]["create"][prefix + ".data"]["configs"]["segment.bytes"] == "67108864"
    assert target.topics(prefix) == {}


def test_unreachable_target_fails_within_timeout(clusters):
    args = {"source": clusters.source, "target": {"bootstrap_servers": ["127.0.0.1:1"], "request_timeout": 30},
            "timeout": 4}
    t0 = time.monotonic()
    with pytest.raises(FailJson) as err:
        run_module(kafka_topic_sync, args)
    assert time.monotonic() - t0 < 8
    assert "target cluster (127.0.0.1:1)" in err.value.result["msg"]


def test_playbook_check_real_idempotent(clusters, sides):
    prefix, source, target = sides
    source.create({prefix + ".pb1": (3, 3, {"retention.ms": "120000"}), prefix + ".pb2": (2, 2, {})})
    rc, out = run_playbook(os.path.join(TARGET_DIR, "playbook.yml"),
                           {"kafka_topic_sync_prefix": prefix, "kafka_source": clusters.source,
                            "kafka_target": clusters.target})
    assert rc == 0, out[-3000:]
    assert "failed=0" in out
    wait_topics_on_every_broker(target.conf, [prefix + ".pb1", prefix + ".pb2"], {prefix + ".pb1": 3})
    assert target.rf(prefix + ".pb1") == 2
    wait_topic_overrides(target.conf, prefix + ".pb1", {"retention.ms": "120000"})
