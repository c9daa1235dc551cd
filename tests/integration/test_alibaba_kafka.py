"""An Alibaba Cloud ApsaraMQ for Kafka target (api: alibaba) through the local OpenAPI emulator.

The emulator (tests/harness/alibaba_emulator.py) checks the real SDK's signatures and the service's
rules, and is backed by the real KRaft target cluster: topics the module creates through the API are
checked on the real brokers, and every call the SDK sent is checked in the emulator's log.
"""

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

from ansible_collections.kafkaops.migration.plugins.modules import kafka_group_sync, kafka_topic_sync
from tests.utils.alibaba import alibaba_target, running_emulator
from tests.utils.modules import FailJson, run_module
from tests.utils.wait import wait_committed, wait_topics_on_every_broker

pytestmark = pytest.mark.kafka

INSTANCE = "alikafka_post-cn-emutest01"
AK, SECRET = "LTAI-test-key", "test-secret-%s" % "x" * 8


@pytest.fixture(scope="module")
def emulator(clusters):
    with running_emulator(clusters, INSTANCE, AK, SECRET, qps={"CreateTopic": 5.0, "default": 50.0}) as emu:
        yield emu


def target_of(clusters, emu, **alibaba):
    return alibaba_target(clusters, emu, INSTANCE, AK, SECRET, 5.0, **alibaba)


def make_source_topics(clusters, specs):
    conf = clusters.librdkafka("source")
    admin = AdminClient(conf)
    futs = admin.create_topics([NewTopic(n, p, 2, config=c) for n, (p, c) in specs.items()], operation_timeout=20)
    for fut in futs.values():
        fut.result(timeout=30)
    wait_topics_on_every_broker(conf, list(specs), dict((n, s[0]) for n, s in specs.items()))
    return admin


def target_partitions(clusters, names):
    md = AdminClient(clusters.librdkafka("target")).list_topics(timeout=10)
    return dict((n, len(md.topics[n].partitions)) for n in names if n in md.topics and md.topics[n].error is None)


def calls(emu, action):
    return [c for c in emu.calls if c["action"] == action]


def test_topics_are_created_renamed_and_expanded_through_the_api(clusters, emulator, unique):
    tag = unique("ali").replace("-", "_")
    dotted, plain = "orders.v1.%s" % tag, "payments-%s" % tag
    src = make_source_topics(clusters, {dotted: (3, {"retention.ms": "86400000"}), plain: (2, {})})
    args = dict(source=clusters.source, target=target_of(clusters, emulator), include=[".*%s" % tag])
    emulator.reset_calls()

    planned = run_module(kafka_topic_sync, args, check_mode=True, diff=True)
    assert planned["changed"] is False or planned["planned"]["create"]
    assert sorted(planned["planned"]["create"]) == sorted(["orders_v1_%s" % tag, plain])
    assert planned["renamed"] == {dotted: "orders_v1_%s" % tag}
    assert calls(emulator, "CreateTopic") == []  # check mode: reads only
    assert target_partitions(clusters, ["orders_v1_%s" % tag, plain]) == {}

    done = run_module(kafka_topic_sync, args, diff=True)
    assert done["changed"] is True
    assert sorted(done["created"]) == sorted(["orders_v1_%s" % tag, plain])
    # cloud storage: the retention is the instance's; said, not dropped silently
    assert done["not_copied"]["orders_v1_%s" % tag]["retention.ms"].startswith("cloud storage")
    assert target_partitions(clusters, ["orders_v1_%s" % tag, plain]) == {"orders_v1_%s" % tag: 3, plain: 2}
    sent = dict((c["params"]["Topic"], c["params"]) for c in calls(emulator, "CreateTopic"))
    assert sent["orders_v1_%s" % tag]["PartitionNum"] == "3"
    assert sent["orders_v1_%s" % tag]["Remark"] == "from-orders_v1_%s" % tag
    assert sent[plain]["InstanceId"] == INSTANCE and "LocalTopic" not in sent[plain]
    assert done["api_calls"]["calls"] >= 4

    again = run_module(kafka_topic_sync, args)
    assert again["changed"] is False and again["created"] == []

    src.create_partitions([NewPartitions(plain, 4)])[plain].result(timeout=30)
    wait_topics_on_every_broker(clusters.librdkafka("source"), [plain], {plain: 4})
    emulator.reset_calls()
    grown = run_module(kafka_topic_sync, args)
    assert grown["expanded"] == [plain]
    assert [c["params"]["AddPartitionNum"] for c in calls(emulator, "ModifyPartitionNum")] == ["2"]
    assert target_partitions(clusters, [plain]) == {plain: 4}


def test_what_the_service_refuses_fails_before_any_call_that_changes(clusters, emulator, unique):
    tag = unique("alr").replace("-", "_")
    compacted, long_name = "ledger-%s" % tag, "x" * 60 + tag
    make_source_topics(clusters, {compacted: (2, {"cleanup.policy": "compact"}), long_name: (1, {})})
    emulator.reset_calls()
    with pytest.raises(FailJson) as failed:
        run_module(kafka_topic_sync, dict(source=clusters.source, target=target_of(clusters, emulator),
                                          include=[".*%s" % tag]))
    msg = failed.value.result["msg"]
    assert "nothing was changed" in msg
    assert "compaction needs local storage" in failed.value.result["invalid"][compacted]
    assert "longer than 64" in failed.value.result["invalid"][long_name]
    assert calls(emulator, "CreateTopic") == []

    # with local storage the compacted topic is created compacted on the brokers (the long one renamed)
    local = target_of(clusters, emulator, topic_storage="local")
    done = run_module(kafka_topic_sync, dict(source=clusters.source, target=local, include=[".*%s" % tag],
                                             rename={long_name: "long-%s" % tag}))
    assert sorted(done["created"]) == sorted([compacted, "long-%s" % tag])
    sent = dict((c["params"]["Topic"], c["params"]) for c in calls(emulator, "CreateTopic"))
    assert sent[compacted]["LocalTopic"].lower() == "true" and sent[compacted]["CompactTopic"].lower() == "true"
    assert target_partitions(clusters, [compacted]) == {compacted: 2}


def test_a_wrong_secret_and_a_stopped_instance_fail_clearly(clusters, emulator, unique):
    tag = unique("alw").replace("-", "_")
    make_source_topics(clusters, {"w-%s" % tag: (1, {})})
    with pytest.raises(FailJson) as failed:
        run_module(kafka_topic_sync, dict(source=clusters.source, target=target_of(clusters, emulator, access_key_secret="nope"),
                                          include=[".*%s" % tag]))
    assert "SignatureDoesNotMatch" in failed.value.result["msg"]
    assert "nope" not in str(failed.value.result)
    emulator.add_instance(instance_id="alikafka_post-cn-emunotyet", service_status=0)
    with pytest.raises(FailJson) as failed:
        run_module(kafka_topic_sync, dict(source=clusters.source, include=[".*%s" % tag],
                                          target=target_of(clusters, emulator, instance_id="alikafka_post-cn-emunotyet")))
    assert "to be deployed" in failed.value.result["msg"] and "not running" in failed.value.result["msg"]
    assert target_partitions(clusters, ["w-%s" % tag]) == {}


def commit(clusters, side, group, offsets):
    admin = AdminClient(clusters.librdkafka(side))
    req = ConsumerGroupTopicPartitions(group, [TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())])
    list(admin.alter_consumer_group_offsets([req]).values())[0].result(30)
    wait_committed(admin, group, offsets)


def test_groups_are_created_through_the_api_and_start_on_the_renamed_topic(clusters, emulator, unique):
    tag = unique("alg").replace("-", "_")
    topic, renamed, group = "orders.v2.%s" % tag, "orders_v2_%s" % tag, "billing-%s" % tag
    make_source_topics(clusters, {topic: (2, {})})
    commit(clusters, "source", group, {(topic, 0): 0, (topic, 1): 0})
    target = target_of(clusters, emulator)
    run_module(kafka_topic_sync, dict(source=clusters.source, target=target, include=[topic.replace(".", r"\.")]))
    producer = Producer(clusters.librdkafka("target"))
    for i in range(5):
        producer.produce(renamed, key=b"k%d" % i, value=b"v", partition=0)
    assert producer.flush(30) == 0
    args = dict(source=clusters.source, target=target, groups=[{"name": group, "topics": [topic]}], policy="latest")
    emulator.reset_calls()

    planned = run_module(kafka_group_sync, args, check_mode=True, diff=True)
    assert planned["created_groups"] == [group] and planned["changed"] is True
    assert planned["renamed"] == {topic: renamed}
    assert group in planned["diff"]["after"]
    assert calls(emulator, "CreateConsumerGroup") == []

    done = run_module(kafka_group_sync, args)
    assert done["created_groups"] == [group]
    sent = calls(emulator, "CreateConsumerGroup")
    assert [c["params"]["ConsumerId"] for c in sent] == [group] and sent[0]["params"]["InstanceId"] == INSTANCE
    # the group was created on the instance before its offsets were set, on the renamed topic
    assert group in emulator.instances[INSTANCE]["_groups"]
    wait_committed(AdminClient(clusters.librdkafka("target")), group, {(renamed, 0): 5, (renamed, 1): 0})
    assert [(r["topic"], r["partition"], r["offset"]) for r in done["groups"][0]["partitions"]] == \
        [(renamed, 0, 5), (renamed, 1, 0)]

    emulator.reset_calls()
    again = run_module(kafka_group_sync, args)
    assert again["changed"] is False and again["created_groups"] == []
    assert calls(emulator, "CreateConsumerGroup") == []


def test_a_group_name_the_instance_refuses_fails_before_anything_is_created(clusters, emulator, unique):
    tag = unique("alh").replace("-", "_")
    topic, group = "pay-%s" % tag, "team.billing.%s" % tag
    make_source_topics(clusters, {topic: (1, {})})
    commit(clusters, "source", group, {(topic, 0): 0})
    target = target_of(clusters, emulator)
    run_module(kafka_topic_sync, dict(source=clusters.source, target=target, include=[topic]))
    emulator.reset_calls()
    with pytest.raises(FailJson) as failed:
        run_module(kafka_group_sync, dict(source=clusters.source, target=target, groups=[{"name": group, "topics": [topic]}]))
    msg = failed.value.result["msg"]
    assert "nothing was changed" in msg and "refuses its name" in msg and "group.id" in msg
    assert calls(emulator, "CreateConsumerGroup") == []
    assert group not in emulator.instances[INSTANCE]["_groups"]
    # with the dotted rule (reserved instances, SDK 2.16) the same name is accepted
    emulator.name_rule = "dotted"
    try:
        done = run_module(kafka_group_sync, dict(source=clusters.source, target=target_of(clusters, emulator, name_rule="dotted"),
                                                 groups=[{"name": group, "topics": [topic]}]))
    finally:
        emulator.name_rule = "strict"
    assert done["created_groups"] == [group]
