"""kafka_mirror (engine builtin) with the rename map and rule, against the real clusters.

A source topic copied under another name gets every record (key, value, headers, partition, timestamp)
in the renamed target topic, and the offset map records that topic; collisions and a map that says
another target topic fail before anything is written. An Alibaba target (api: alibaba, through the
local OpenAPI emulator backed by the real target cluster) gets a dotted topic under its underscore
name by the default rule, into the topic kafka_topic_sync created through the emulator.
"""

import json
import re

import pytest
from confluent_kafka.admin import AdminClient

from ansible_collections.kafkaops.migration.plugins.module_utils.connection import Cluster
from ansible_collections.kafkaops.migration.plugins.module_utils.offsetmap import load_from_topic
from ansible_collections.kafkaops.migration.plugins.modules import kafka_mirror, kafka_topic_sync
from tests.utils.alibaba import alibaba_target, running_emulator
from tests.integration.test_mirror_kafka import Topics, produce, read_side, recent_ms, strip
from tests.utils.modules import FailJson, run_module
from tests.utils.wait import wait_topics_on_every_broker

pytestmark = pytest.mark.kafka

INSTANCE = "alikafka_post-cn-emumirror1"
AK, SECRET = "LTAI-mirror-key", "mirror-secret-%s" % "y" * 8


@pytest.fixture
def topics(clusters):
    t = Topics(clusters)
    yield t
    t.cleanup()


@pytest.fixture(scope="module")
def emulator(clusters):
    with running_emulator(clusters, INSTANCE, AK, SECRET, qps={"CreateTopic": 5.0, "default": 50.0}) as emu:
        yield emu


def target_of(clusters, emu, **alibaba):
    return alibaba_target(clusters, emu, INSTANCE, AK, SECRET, 5.0, **alibaba)


def keyed_records(partitions, per_partition, tag):
    """Every record keyed and with headers (one of them null), distinct timestamps in the recent past."""
    ts = recent_ms()
    out = []
    for i in range(per_partition):
        for part in range(partitions):
            n = i * partitions + part
            out.append((part, ("k%d" % n).encode(), ("v%d-%s" % (n, tag)).encode(),
                        [("trace", ("t%d" % n).encode()), ("empty", None)], ts + n))
    return out


def args_of(clusters, map_topic, **kw):
    p = dict(source=clusters.source, target=clusters.target, offset_map_topic=map_topic, timeout=120)
    p.update(kw)
    return p


def target_topic_names(clusters):
    return set(AdminClient(clusters.librdkafka("target")).list_topics(timeout=10).topics)


def assert_copied_into(clusters, source_topic, target_topic, records, partitions, map_topic):
    """``target_topic`` holds, partition by partition and in order, exactly the ``records`` produced to
    ``source_topic`` (key, value, headers, timestamp) and the offset map translates each onto it."""
    src = read_side(clusters, "source", source_topic, partitions)
    tgt = read_side(clusters, "target", target_topic, partitions)
    for p in range(partitions):
        produced = [(k, v, h, ts) for part, k, v, h, ts in records if part == p]
        assert strip(src[p]) == produced, "source partition %d is not what was produced" % p
        assert strip(tgt[p]) == produced, "target partition %d differs" % p
    omap = load_from_topic(Cluster(clusters.target, "target"), map_topic)
    for p in range(partitions):
        assert omap.partitions[(source_topic, p)].target_topic == target_topic
        for s, t in zip(src[p], tgt[p]):
            assert omap.translate(source_topic, p, s[0]) == (t[0], "mapped")
    return tgt


# -- tests -----------------------------------------------------------------------------------------
def test_a_renamed_copy_is_exact_idempotent_and_checked(clusters, topics, unique):
    tag = unique("r")
    src, dst = "x.%s" % tag, "renamed-%s" % tag
    topics.create("source", src, 2, 2)
    topics.create("target", dst, 2, 2)
    map_topic = unique("mir-map")
    topics.track("target", map_topic)
    records = keyed_records(2, 40, tag)
    produce(clusters, src, records)
    args = args_of(clusters, map_topic, topics=[src], name=unique("n"), rename={src: dst})

    check = run_module(kafka_mirror, args, check_mode=True)
    assert check["changed"] is True and check["records"] == 80 and check["status"] == "check_mode"
    assert check["renamed"] == {src: dst} and check["target_topics"] == {src: dst}
    assert map_topic not in target_topic_names(clusters)
    assert read_side(clusters, "target", dst, 2) == {0: [], 1: []}

    done = run_module(kafka_mirror, args)
    assert done["changed"] is True and done["records"] == 80 and done["status"] == "done"
    assert done["renamed"] == {src: dst} and done["target_topics"] == {src: dst}
    assert done["topics"] == [src]
    assert sorted((p["partition"], p["target_topic"], p["copied"]) for p in done["partitions"]) == [(0, dst, 40), (1, dst, 40)]
    assert src not in target_topic_names(clusters)  # nothing under the source name on the target
    copied = assert_copied_into(clusters, src, dst, records, 2, map_topic)

    again = run_module(kafka_mirror, args)
    assert again["changed"] is False and again["records"] == 0 and again["renamed"] == {src: dst}
    check_again = run_module(kafka_mirror, args, check_mode=True)
    assert check_again["changed"] is False and check_again["records"] == 0
    assert read_side(clusters, "target", dst, 2) == copied  # no duplicate

    # the map says src went into dst: another target topic through the same map is refused, nothing written
    other = topics.create("target", "other-%s" % tag, 2, 2)
    with pytest.raises(FailJson) as failed:
        run_module(kafka_mirror, dict(args, rename={src: other}))
    result = failed.value.result
    assert "nothing was copied" in result["msg"] and "one offset map holds one target layout" in result["msg"]
    assert "%s copied into %s, this run would copy it into %s" % (src, dst, other) in result["msg"]
    assert result["layout_conflicts"] == {src: {"recorded": dst, "requested": other}}
    assert read_side(clusters, "target", other, 2) == {0: [], 1: []}
    assert read_side(clusters, "target", dst, 2) == copied

    # a renamed target topic that does not exist says which options make its name
    with pytest.raises(FailJson) as failed:
        run_module(kafka_mirror, dict(args, rename={src: "nowhere-%s" % tag}, offset_map_topic=unique("mir-map2")))
    msg = failed.value.result["msg"]
    assert "nowhere-%s (target topic of %s) is missing on the target" % (tag, src) in msg
    assert "kafka_topic_sync and the same rename map (rename)" in msg


def test_two_sources_onto_one_name_fail_with_nothing_written(clusters, topics, unique):
    tag = unique("c")
    first, second = "x.%s" % tag, "y-%s" % tag
    topics.create("source", first, 1, 2)
    topics.create("source", second, 1, 2)
    topics.create("target", second, 1, 2)
    produce(clusters, first, keyed_records(1, 5, tag))
    produce(clusters, second, keyed_records(1, 5, tag))
    map_topic = unique("mir-map")
    topics.track("target", map_topic)
    args = args_of(clusters, map_topic, topics=[first, second], name=unique("n"), rename={first: second})
    for check_mode in (True, False):
        with pytest.raises(FailJson) as failed:
            run_module(kafka_mirror, args, check_mode=check_mode)
        result = failed.value.result
        assert "refused or collide, nothing was copied" in result["msg"]
        assert sorted(result["invalid"]) == [first, second]
        assert "would be the target of %r too" % second in result["invalid"][first]
    # two map entries onto one name are refused with the options, before any cluster is read
    with pytest.raises(FailJson) as failed:
        run_module(kafka_mirror, dict(args, rename={first: "z-%s" % tag, second: "z-%s" % tag}))
    assert "both map to 'z-%s'" % tag in failed.value.result["msg"]
    # engine mirrormaker2 keeps the names: a rename map is refused before anything is changed
    with pytest.raises(FailJson) as failed:
        run_module(kafka_mirror, dict(args, engine="mirrormaker2"))
    assert "rename is supported by engine builtin only" in failed.value.result["msg"]
    assert "nothing was changed" in failed.value.result["msg"]
    assert map_topic not in target_topic_names(clusters)
    assert read_side(clusters, "target", second, 1) == {0: []}


def test_an_alibaba_target_gets_a_dotted_topic_under_its_underscore_name(clusters, topics, unique, emulator):
    tag = unique("alm").replace("-", "_")
    dotted, under = "orders.v1.%s" % tag, "orders_v1_%s" % tag
    topics.create("source", dotted, 2, 2)
    records = keyed_records(2, 25, tag)
    produce(clusters, dotted, records)
    target = target_of(clusters, emulator)
    synced = run_module(kafka_topic_sync, dict(source=clusters.source, target=target, include=[re.escape(dotted)]))
    topics.track("target", under)
    assert synced["created"] == [under] and synced["renamed"] == {dotted: under}
    wait_topics_on_every_broker(clusters.librdkafka("target"), under, 2)
    map_topic = unique("mir-map")
    topics.track("target", map_topic)
    args = args_of(clusters, map_topic, target=target, topics=[dotted], name=unique("n"))

    # rename_rule refuse: the refused name fails the task, nothing is written
    with pytest.raises(FailJson) as failed:
        run_module(kafka_mirror, dict(args, rename_rule="refuse"))
    assert "refused or collide, nothing was copied" in failed.value.result["msg"]
    assert "characters the service refuses" in failed.value.result["invalid"][dotted]
    assert map_topic not in target_topic_names(clusters)
    # engine mirrormaker2 cannot rename: an exact topic name the instance refuses is refused
    with pytest.raises(FailJson) as failed:
        run_module(kafka_mirror, dict(args, engine="mirrormaker2"))
    assert "refuses these topic names" in failed.value.result["msg"] and dotted in failed.value.result["invalid"]

    # the offset map's topic must pass the instance's name rule too (the default on this target has no '.')
    with pytest.raises(FailJson) as failed:
        run_module(kafka_mirror, dict(args, offset_map_topic="map.%s" % tag))
    assert "the offset map topic" in failed.value.result["msg"] and "map_%s" % tag in failed.value.result["msg"]

    emulator.reset_calls()
    done = run_module(kafka_mirror, args)
    assert done["records"] == 50 and done["renamed"] == {dotted: under} and done["target_topics"] == {dotted: under}
    assert_copied_into(clusters, dotted, under, records, 2, map_topic)
    # the map topic was created through the OpenAPI (the service takes no CreateTopics from Kafka clients):
    # local storage, one partition, the longest retention the service allows
    created = [c["params"] for c in emulator.calls if c["action"] == "CreateTopic"]
    assert [(c["Topic"], c["PartitionNum"], c["LocalTopic"]) for c in created] == [(map_topic, "1", "True")], created
    assert json.loads(created[0]["Config"]) == {"retention.ms": 31536000000}
    again = run_module(kafka_mirror, args)
    assert again["changed"] is False and again["records"] == 0
