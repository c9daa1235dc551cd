"""kafka_spec_facts' preflight of an Alibaba Cloud ApsaraMQ for Kafka target (api: alibaba).

The real source (3-broker ZooKeeper) and the local OpenAPI emulator (tests/harness/alibaba_emulator.py),
backed by the real KRaft target: the preflight lists every topic and group name the instance refuses, the
topics the default rule renames, and never sends a call that changes anything - the emulator's call log
and the real target's topics and groups prove it.
"""

import time

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from ansible_collections.kafkaops.migration.plugins.modules import kafka_spec_facts
from tests.utils.alibaba import alibaba_target, running_emulator
from tests.utils.modules import FailJson, run_module
from tests.utils.wait import wait_committed, wait_topics_on_every_broker, wait_until

pytestmark = pytest.mark.kafka

INSTANCE = "alikafka_post-cn-emuspec01"
AK, SECRET = "LTAI-spec-key", "spec-secret-yyyyyyyy"
WRITES = ("Create", "Modify", "Start", "Delete", "Update")


@pytest.fixture(scope="module")
def emulator(clusters):
    with running_emulator(clusters, INSTANCE, AK, SECRET) as emu:
        yield emu


def target_of(clusters, emu, **alibaba):
    return alibaba_target(clusters, emu, INSTANCE, AK, SECRET, 20.0, **alibaba)


class Made:
    """Topics and groups a test made on one cluster; removed at the end."""

    def __init__(self, conf):
        self.conf = dict(conf)
        self.admin = AdminClient(self.conf)
        self.topics, self.groups = [], []

    def create(self, specs):
        """``specs``: ``{name: partitions}``, replication factor 2, in one call."""
        futs = self.admin.create_topics([NewTopic(n, p, 2) for n, p in specs.items()], operation_timeout=20)
        for name, fut in futs.items():
            fut.result(timeout=30)
            self.topics.append(name)
        wait_topics_on_every_broker(self.conf, list(specs), dict(specs))

    def commit(self, group, offsets):
        req = ConsumerGroupTopicPartitions(group, [TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())])
        list(self.admin.alter_consumer_group_offsets([req]).values())[0].result(30)
        self.groups.append(group)
        wait_committed(self.admin, group, offsets)
        wait_until("group %s listed" % group, lambda: [g.group_id for g in self.admin.list_consumer_groups(
            request_timeout=10).result(15).valid], lambda ids: group in ids)

    def cleanup(self):
        if self.groups:
            for fut in self.admin.delete_consumer_groups(self.groups, request_timeout=15).values():
                try:
                    fut.result()
                except Exception:
                    pass
        if self.topics:
            for fut in self.admin.delete_topics(self.topics, operation_timeout=20).values():
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


def writes(emu):
    return [c["action"] for c in emu.calls if c["action"] and c["action"].startswith(WRITES)]


def target_state(made, names):
    """The target's topics and groups among ``names``, read on the real brokers."""
    topics = set(made.admin.list_topics(timeout=10).topics)
    groups = set(g.group_id for g in made.admin.list_consumer_groups(request_timeout=10).result(15).valid)
    return sorted(n for n in names if n in topics or n in groups)


def by_kind(pf, kind):
    return [p for p in pf["problems"] if p["kind"] == kind]


def test_dotted_topics_are_renamed_with_a_warning_and_the_preflight_fits(clusters, emulator, source, target, unique):
    tag = unique("sfa").replace("-", "_")
    dotted, plain, group = "orders.v1.%s" % tag, "payments-%s" % tag, "billing-%s" % tag
    source.create({dotted: 3, plain: 2})
    source.commit(group, {(dotted, 0): 0})
    emulator.reset_calls()
    args = dict(source=clusters.source, target=target_of(clusters, emulator), include=[".*%s" % tag], sample_window=0)

    pf = run_module(kafka_spec_facts, args)["spec"]["preflight"]

    names = pf["names"]
    assert names["rule"] == "strict" and names["rename_rule"] == "underscore" and names["groups_checked"] is True
    assert names["renamed"] == {dotted: "orders_v1_%s" % tag}
    assert names["refused_topics"] == {} and names["refused_groups"] == {}
    (warning,) = by_kind(pf, "topic_rename")
    assert warning["severity"] == "warning"
    assert warning["detail"].startswith("1 topic gets a new name on the target: %s -> orders_v1_%s" % (dotted, tag))
    assert pf["fits"] is True and not [p for p in pf["problems"] if p["severity"] == "error"]
    assert pf["metric_collisions"] == []  # the renamed topic has no '.' left
    assert pf["instance"]["InstanceId"] == INSTANCE and pf["instance"]["status"] == "running"
    # read-only: the instance was read (GetInstanceList), nothing was sent that changes it, nothing is on the brokers
    assert "GetInstanceList" in [c["action"] for c in emulator.calls]
    assert writes(emulator) == []
    assert target_state(target, [dotted, plain, "orders_v1_%s" % tag, group]) == []

    # a Kafka target (api kafka) accepts every name: no name checks, nothing else changes
    kafka = run_module(kafka_spec_facts, dict(args, target=clusters.target))["spec"]["preflight"]
    assert "names" not in kafka and "instance" not in kafka
    assert by_kind(kafka, "topic_rename") == [] and kafka["fits"] is True


def test_refuse_rule_makes_a_dotted_topic_an_error_and_a_rename_entry_fixes_it(clusters, emulator, source, target, unique):
    tag = unique("sfr").replace("-", "_")
    dotted, existing = "orders.v1.%s" % tag, "stock.v2.%s" % tag
    source.create({dotted: 2, existing: 2})
    target.create({"stock_v2_%s" % tag: 4})  # already on the instance, under its renamed name, with more partitions
    emulator.reset_calls()
    args = dict(source=clusters.source, target=target_of(clusters, emulator), include=[r"orders\.v1\..*%s" % tag],
                sample_window=0, rename_rule="refuse")

    result = run_module(kafka_spec_facts, args)
    pf = result["spec"]["preflight"]
    assert list(pf["names"]["refused_topics"]) == [dotted] and pf["names"]["renamed"] == {}
    (error,) = by_kind(pf, "topic_name")
    assert error["severity"] == "error" and error["topic"] == dotted
    assert "rename map" in error["detail"] and "has characters the service refuses" in error["detail"]
    assert pf["fits"] is False
    assert result["changed"] is False
    with pytest.raises(FailJson) as failed:
        run_module(kafka_spec_facts, dict(args, fail_on_misfit=True))
    assert "the target does not fit" in failed.value.result["msg"] and dotted in failed.value.result["msg"]

    fixed = run_module(kafka_spec_facts, dict(args, rename={dotted: "orders-v1-%s" % tag}))["spec"]["preflight"]
    assert fixed["names"]["refused_topics"] == {} and fixed["names"]["renamed"] == {dotted: "orders-v1-%s" % tag}
    assert fixed["fits"] is True

    # clashes are about the target names: the renamed topic meets the one already on the instance
    both = run_module(kafka_spec_facts, dict(args, include=[".*%s" % tag], rename_rule="underscore"))["spec"]["preflight"]
    assert both["clashes"] == [{"topic": existing, "target_topic": "stock_v2_%s" % tag, "source_partitions": 2,
                                "target_partitions": 4,
                                "detail": "target has more partitions (4 > 2): keyed records would land in other partitions"}]
    assert both["fits"] is False
    assert writes(emulator) == []
    assert target_state(target, [dotted, "orders_v1_%s" % tag, "orders-v1-%s" % tag, existing]) == []


def test_a_dotted_group_is_refused_under_strict_and_accepted_under_dotted(clusters, emulator, source, target, unique):
    tag = unique("sfg").replace("-", "_")
    topic, group, other = "pay-%s" % tag, "team.billing.%s" % tag, "team.other.%s" % tag
    source.create({topic: 1, "elsewhere-%s" % tag: 1})
    source.commit(group, {(topic, 0): 0})
    source.commit(other, {("elsewhere-%s" % tag, 0): 0})  # commits only outside the selection: not migrated
    emulator.reset_calls()
    args = dict(source=clusters.source, target=target_of(clusters, emulator), include=[topic], sample_window=0)

    pf = run_module(kafka_spec_facts, args)["spec"]["preflight"]
    assert group in pf["names"]["refused_groups"] and other not in pf["names"]["refused_groups"]
    assert "has characters the service refuses" in pf["names"]["refused_groups"][group]
    (error,) = [p for p in by_kind(pf, "group_name") if p["group"] == group]
    assert error["severity"] == "error"
    assert "group.id" in error["detail"] and "alibaba.name_rule dotted" in error["detail"]
    assert pf["names"]["refused_topics"] == {} and pf["fits"] is False

    dotted = run_module(kafka_spec_facts, dict(args, target=target_of(clusters, emulator, name_rule="dotted")))["spec"]["preflight"]
    assert dotted["names"]["rule"] == "dotted" and group not in dotted["names"]["refused_groups"]
    assert [p for p in by_kind(dotted, "group_name") if p["group"] == group] == []
    assert writes(emulator) == []
    assert target_state(target, [topic, group]) == []

    # without reading groups, their names are not checked, and the result says so
    unread = run_module(kafka_spec_facts, dict(args, groups=False))["spec"]["preflight"]
    assert unread["names"]["groups_checked"] is False and unread["names"]["refused_groups"] == {}
    assert any("names were not checked" in w for w in unread["warnings"])


def test_the_name_checks_do_not_need_the_openapi(clusters, emulator, source, unique):
    tag = unique("sfo").replace("-", "_")
    dotted = "orders.v1.%s" % tag
    source.create({dotted: 1})
    down = target_of(clusters, emulator, endpoint="127.0.0.1:1", request_timeout=1.0)
    t0 = time.monotonic()
    pf = run_module(kafka_spec_facts, dict(source=clusters.source, target=down, include=[r"orders\.v1\..*%s" % tag],
                                           sample_window=0, rename_rule="refuse", timeout=60))["spec"]["preflight"]
    assert time.monotonic() - t0 < 30  # the instance read is bounded, not the module's whole timeout
    assert "instance" not in pf
    assert any("the instance could not be read" in w and "do not need it" in w for w in pf["warnings"])
    assert SECRET not in str(pf)
    assert list(pf["names"]["refused_topics"]) == [dotted] and pf["fits"] is False
