"""kafka_group_sync against the real clusters: every policy checked by consuming from the target.

Each test makes its own topics and groups (unique names) and deletes them afterwards. A placement
is verified the way an application would see it: a new consumer of the group on the target (with
``auto.offset.reset=error``, so only the committed offset can place it) reads its first record, and
that record must be the expected one.
"""

import datetime
import json
import os
import time

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from ansible_collections.kafkaops.migration.plugins.modules import kafka_group_sync
from ansible_collections.kafkaops.migration.plugins.module_utils import groups as groups_core
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import Cluster
from ansible_collections.kafkaops.migration.plugins.module_utils.offsetmap import load_from_topic, progress_record
from tests.utils.modules import FailJson, run_module
from tests.utils.playbook import run_playbook
from tests.utils.wait import wait_topics_on_every_broker, wait_transactions_settled

pytestmark = pytest.mark.kafka

TARGET_DIR = os.path.join(os.path.dirname(__file__), "targets", "kafka_group_sync")
# Record timestamps of the tests: T0 + 1000 * i. Recent on purpose: records older than the topics'
# retention.ms (7 days by default) are deleted by time retention mid-test, moving the log start.
T0 = (int(time.time()) - 3600) * 1000


class Side:
    """One cluster: admin calls, producing, committing, reading back; cleans up what it made."""

    def __init__(self, conf):
        self.conf = conf
        self.admin = AdminClient(conf)
        self.topics, self.groups = set(), set()

    def create(self, topic, partitions=3):
        fut = self.admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
        fut[topic].result(30)
        self.topics.add(topic)
        wait_topics_on_every_broker(self.conf, topic, partitions)  # metadata reaches every broker

    def produce(self, topic, partition, items, transactional_id=None, abort=False):
        """items: [(key, timestamp_ms)]; returns the offsets the records got."""
        conf = dict(self.conf, **{"enable.idempotence": True, "acks": "all", "linger.ms": 0})
        if transactional_id:
            conf["transactional.id"] = transactional_id
        p = Producer(conf)
        offsets = []

        def report(err, msg):
            assert err is None, err
            offsets.append(msg.offset())

        if transactional_id:
            p.init_transactions(30)
            p.begin_transaction()
        for key, ts in items:
            p.produce(topic, key=key.encode(), value=("value-" + key).encode(), partition=partition,
                      timestamp=ts, headers=[("k", key.encode())], on_delivery=report)
        assert p.flush(30) == 0
        if transactional_id:
            (p.abort_transaction if abort else p.commit_transaction)(30)
            wait_transactions_settled(self.admin, topic, [partition])  # markers written: LSO includes them
        return offsets

    def commit(self, group, offsets):
        """offsets: {(topic, partition): offset}, through the admin API (no member joins)."""
        self.groups.add(group)
        req = ConsumerGroupTopicPartitions(group, [TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())])
        deadline = time.monotonic() + 20
        while True:
            res = list(self.admin.alter_consumer_group_offsets([req]).values())[0].result(30)
            errors = [tp.error for tp in res.topic_partitions if tp.error is not None]
            # A new topic's metadata may not have reached the group coordinator yet.
            if errors and errors[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART and time.monotonic() < deadline:
                time.sleep(0.3)
                continue
            assert errors == [], errors
            return

    def committed(self, group):
        res = self.admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(30)
        return dict(((tp.topic, tp.partition), tp.offset) for tp in res.topic_partitions if tp.offset >= 0)

    def first_records(self, group, topic, partitions):
        """The first record a new consumer of ``group`` reads on each partition: {p: (offset, key)}."""
        self.groups.add(group)
        c = Consumer(dict(self.conf, **{"group.id": group, "auto.offset.reset": "error", "enable.auto.commit": False,
                                        "isolation.level": "read_committed"}))
        try:
            c.assign([TopicPartition(topic, p) for p in partitions])
            got = {}
            deadline = time.monotonic() + 30
            while len(got) < len(partitions) and time.monotonic() < deadline:
                m = c.poll(0.5)
                if m is None:
                    continue
                assert m.error() is None, m.error()
                if m.partition() not in got:
                    got[m.partition()] = (m.offset(), m.key().decode())
            return got
        finally:
            c.close()

    def cleanup(self):
        if self.groups:
            for fut in self.admin.delete_consumer_groups(sorted(self.groups), request_timeout=10).values():
                try:
                    fut.result(15)
                except Exception:  # noqa: BLE001 - a group that was never created
                    pass
        if self.topics:
            for fut in self.admin.delete_topics(sorted(self.topics), operation_timeout=10).values():
                try:
                    fut.result(15)
                except Exception:  # noqa: BLE001
                    pass


@pytest.fixture
def sides(clusters):
    source, target = Side(clusters.librdkafka("source")), Side(clusters.librdkafka("target"))
    yield source, target
    source.cleanup()
    target.cleanup()


def sync(clusters, check_mode=False, diff=False, **options):
    args = dict(source=clusters.source, target=clusters.target, timeout=60, **options)
    return run_module(kafka_group_sync, args, check_mode=check_mode, diff=diff)


def rows(result, group):
    g = [x for x in result["groups"] if x["name"] == group][0]
    return dict((r["partition"], r) for r in g["partitions"]), g


def mirror_copy(clusters, source, target, topic, map_topic, partitions, batches, unique):
    """What the mirror does: copy committed source records to the target, each batch in one
    transaction together with its offset-map progress record. ``batches``: source offsets where
    each batch ends (exclusive), per partition the same. Returns {p: [(source, target, key)]}."""
    reader = Consumer(dict(clusters.librdkafka("source"), **{
        "group.id": unique("copy-reader"), "isolation.level": "read_committed", "enable.auto.commit": False,
        "enable.partition.eof": True}))
    records = {p: [] for p in partitions}
    try:
        reader.assign([TopicPartition(topic, p, 0) for p in partitions])
        eof = set()
        deadline = time.monotonic() + 30
        while len(eof) < len(partitions) and time.monotonic() < deadline:
            m = reader.poll(0.5)
            if m is None:
                continue
            if m.error():
                assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
                eof.add(m.partition())
                continue
            records[m.partition()].append(m)
    finally:
        reader.close()
    writer = Producer(dict(clusters.librdkafka("target"), **{"transactional.id": unique("mirror-tx"), "linger.ms": 0}))
    writer.init_transactions(30)
    copied = {p: [] for p in partitions}
    start = 0
    for end in batches:
        writer.begin_transaction()
        landed = {p: [] for p in partitions}
        for p in partitions:
            for m in records[p]:
                if start <= m.offset() < end:
                    def report(err, msg, s=m.offset(), p=p):
                        assert err is None, err
                        landed[p].append((s, msg.offset(), msg.key().decode()))
                    writer.produce(topic, key=m.key(), value=m.value(), headers=m.headers(), partition=p,
                                   timestamp=m.timestamp()[1], on_delivery=report)
        assert writer.flush(30) == 0
        for p in partitions:
            # Like kafka_mirror: a progress record per partition that got records in this batch,
            # resume points right after the last record copied (the target marker comes after).
            pairs = [(s, t) for s, t, key in sorted(landed[p])]
            if pairs:
                key, value = progress_record(topic, p, pairs, source_next=pairs[-1][0] + 1, target_next=pairs[-1][1] + 1)
                writer.produce(map_topic, key=key, value=value, partition=0)
            copied[p].extend(sorted(landed[p]))
        writer.commit_transaction(30)
        start = end
    # The module reads the copy and the map read_committed: wait until the last markers are written.
    wait_transactions_settled(target.admin, topic, partitions)
    wait_transactions_settled(target.admin, map_topic, [0])
    return copied


def transactional_source(source, topic, partitions, unique):
    """Each source partition: 0-2 committed, 3 marker, 4-6 aborted, 7 marker, 8-10 committed, 11 marker.

    One transactional producer for all of it (init_transactions is the slow part)."""
    p = Producer(dict(source.conf, **{"transactional.id": unique("src-tx"), "linger.ms": 0}))
    p.init_transactions(30)
    for keys, abort in (([0, 1, 2], False), (None, True), ([3, 4, 5], False)):
        p.begin_transaction()
        for part in partitions:
            for i, key in enumerate(keys or ["aborted-0", "aborted-1", "aborted-2"]):
                name = "p%d-%d" % (part, key) if keys else key
                p.produce(topic, key=name.encode(), value=("value-" + name).encode(), partition=part,
                          timestamp=T0 + 1000 * (key if keys else 0), headers=[("k", name.encode())])
        assert p.flush(30) == 0
        (p.abort_transaction if abort else p.commit_transaction)(30)
    # commit_transaction returns before the markers reach the partitions: readers (the copy above,
    # the module's look at the source) see the last transaction only once the stable offset moved.
    wait_transactions_settled(source.admin, topic, partitions)


# ------------------------------------------------------------------------------------------------
def test_translate_from_map_topic_and_checkpoint_file_with_partial_commits(clusters, sides, unique, tmp_path):
    source, target = sides
    topic, map_topic = unique("gs-orders"), unique("gs-map")
    group, group_file = unique("gs-app"), unique("gs-app-file")
    source.create(topic)
    target.create(topic)
    target.create(map_topic, partitions=1)
    # The target partition 0 already holds two records (the copy does not start at target offset 0).
    target.produce(topic, 0, [("pre-0", T0), ("pre-1", T0)])
    transactional_source(source, topic, [0, 1, 2], unique)
    # Two copy batches: source offsets [0, 5) then [5, 12); each ends with a target commit marker.
    copied = mirror_copy(clusters, source, target, topic, map_topic, [0, 1, 2], [5, 12], unique)
    assert [row[0] for row in copied[0]] == [0, 1, 2, 8, 9, 10]

    # Source commits: p0 in the middle of the first run (next: p0-2), p1 in the aborted gap (next:
    # p1-3, the first record after the gap), p2 none (fallback earliest).
    source.commit(group, {(topic, 0): 2, (topic, 1): 4})
    source.commit(group_file, {(topic, 0): 2, (topic, 1): 4})
    # A group that consumed everything: its offset is past the last commit marker (12), beyond the
    # copy's resume point (11); only the marker lies between, so it is placed after the copied data.
    group_done = unique("gs-app-done")
    source.commit(group_done, {(topic, p): 12 for p in range(3)})

    # Check mode with diff: shows the plan, changes nothing.
    opts = dict(groups=[{"name": group}], policy="translate", offset_map_topic=map_topic)
    res = sync(clusters, check_mode=True, diff=True, **opts)
    assert res["changed"] is True
    by_p, g = rows(res, group)
    t_p0_2 = [t for s, t, k in copied[0] if k == "p0-2"][0]
    t_p1_3 = [t for s, t, k in copied[1] if k == "p1-3"][0]
    assert (by_p[0]["offset"], by_p[0]["how"], by_p[0]["source_offset"]) == (t_p0_2, "translate-mapped", 2)
    assert (by_p[1]["offset"], by_p[1]["how"]) == (t_p1_3, "translate-gap")
    assert (by_p[2]["offset"], by_p[2]["how"], by_p[2]["fallback"], by_p[2]["source_offset"]) == (
        0, "fallback-earliest", True, None)
    assert res["diff"]["before"] == {group: {}}
    assert res["diff"]["after"] == {group: {topic: {"0": t_p0_2, "1": t_p1_3, "2": 0}}}
    assert target.committed(group) == {}

    # For real, then again: unchanged.
    res = sync(clusters, **opts)
    assert res["changed"] is True and rows(res, group)[1]["status"] == "changed"
    assert target.committed(group) == {(topic, 0): t_p0_2, (topic, 1): t_p1_3, (topic, 2): 0}
    again = sync(clusters, diff=True, **opts)
    assert again["changed"] is False and rows(again, group)[1]["status"] == "unchanged"
    assert again["diff"] == {"before": {}, "after": {}}

    # The same map as a checkpoint file gives the same offsets.
    path = tmp_path / "offset-map.json"
    path.write_text(load_from_topic(Cluster(clusters.target, "target"), map_topic).to_json())
    res = sync(clusters, groups=[{"name": group_file}], policy="translate", offset_map_file=str(path))
    assert target.committed(group_file) == target.committed(group)

    # What a consumer of the group on the target reads first: the first record the source group
    # had not processed.
    first = target.first_records(group, topic, [0, 1, 2])
    assert first[0][1] == "p0-2"
    assert first[1][1] == "p1-3"
    assert first[2][1] == "p2-0"

    # The drained group starts right after the copied data: it reads only what producers write next.
    res = sync(clusters, groups=[{"name": group_done}], policy="translate", offset_map_topic=map_topic)
    by_p = rows(res, group_done)[0]
    assert set(r["how"] for r in by_p.values()) == {"translate-after_copied"}
    assert dict((p, r["offset"]) for p, r in by_p.items()) == dict((p, copied[p][-1][1] + 1) for p in range(3))
    for p in range(3):
        target.produce(topic, p, [("after-%d" % p, T0)])
    assert dict((p, k) for p, (o, k) in target.first_records(group_done, topic, [0, 1, 2]).items()) == {
        0: "after-0", 1: "after-1", 2: "after-2"}


def test_translate_checks_the_source_where_the_map_cannot_tell(clusters, sides, unique, tmp_path):
    source, target = sides
    topic = unique("gs-chk")
    late, early, ahead = unique("gs-chk-late"), unique("gs-chk-early"), unique("gs-chk-ahead")
    source.create(topic, partitions=1)
    target.create(topic, partitions=1)
    transactional_source(source, topic, [0], unique)   # 0-2, marker 3, aborted 4-6, marker 7, 8-10, marker 11
    target.produce(topic, 0, [("p0-%d" % i, T0) for i in (8, 9, 10)])
    source.commit(late, {(topic, 0): 4})     # in the aborted stretch before the copy's first record
    source.commit(early, {(topic, 0): 1})    # records 1 and 2 were never copied
    source.commit(ahead, {(topic, 0): 9})
    # A copy that started at source offset 8 (target 0-2).
    started_late = tmp_path / "late.json"
    started_late.write_text(json.dumps({"format": 1, "partitions": [
        {"topic": topic, "partition": 0, "runs": [[8, 0, 3]], "source_next": 11, "target_next": 3}]}))
    # A copy that has only read source offsets 0-2 so far (target 0-2).
    lagging = tmp_path / "lagging.json"
    lagging.write_text(json.dumps({"format": 1, "partitions": [
        {"topic": topic, "partition": 0, "runs": [[0, 0, 3]], "source_next": 3, "target_next": 3}]}))

    with pytest.raises(FailJson) as err:
        sync(clusters, groups=[{"name": late}, {"name": early}], policy="translate", offset_map_file=str(started_late))
    assert "group %r %s:0: source offset 1 is below the first copied offset 8 and the source still holds committed " \
        "record 1" % (early, topic) in err.value.result["msg"]
    assert target.committed(late) == {}

    res = sync(clusters, groups=[{"name": late}], policy="translate", offset_map_file=str(started_late))
    assert (rows(res, late)[0][0]["offset"], rows(res, late)[0][0]["how"]) == (0, "translate-gap")
    assert target.first_records(late, topic, [0]) == {0: (0, "p0-8")}

    with pytest.raises(FailJson) as err:
        sync(clusters, groups=[{"name": ahead}], policy="translate", offset_map_file=str(lagging))
    assert "the source group committed 9, but source record 8 was not copied yet" in err.value.result["msg"]
    assert target.committed(ahead) == {}


def test_translate_fallback_fail_and_offsets_beyond_the_log_change_nothing(clusters, sides, unique, tmp_path):
    source, target = sides
    topic, group, other = unique("gs-ff"), unique("gs-ff-app"), unique("gs-ff-ok")
    source.create(topic, partitions=2)
    target.create(topic, partitions=2)
    target.produce(topic, 0, [("a", T0), ("b", T0)])
    source.commit(group, {(topic, 0): 1})
    source.commit(other, {(topic, 0): 1, (topic, 1): 0})
    path = tmp_path / "map.json"
    # A map that claims more than the target holds: source 0..9 -> target 0..9 on partition 0.
    path.write_text(json.dumps({"format": 1, "partitions": [
        {"topic": topic, "partition": 0, "runs": [[0, 0, 10]], "source_next": 10, "target_next": 10},
        {"topic": topic, "partition": 1, "runs": [], "source_next": 0, "target_next": 0}]}))
    base = dict(policy="translate", offset_map_file=str(path))

    with pytest.raises(FailJson) as err:
        sync(clusters, groups=[{"name": other, "policy": "earliest"}, {"name": group, "fallback": "fail"}], **base)
    msg = err.value.result["msg"]
    assert msg.startswith("nothing was changed")
    assert "group %r %s:1: the source group has no committed offset here and fallback is fail" % (group, topic) in msg
    assert target.committed(other) == {} and target.committed(group) == {}

    source.commit(group, {(topic, 0): 5})
    with pytest.raises(FailJson) as err:
        sync(clusters, groups=[{"name": other, "policy": "earliest"}, {"name": group}], **base)
    assert "group %r %s:0: offset 5 is beyond the target log end 2" % (group, topic) in err.value.result["msg"]
    assert target.committed(other) == {} and target.committed(group) == {}


def test_earliest_latest_and_timestamp_policies(clusters, sides, unique):
    source, target = sides
    topic = unique("gs-pol")
    g_early, g_late, g_ts, g_mixed = (unique("gs-early"), unique("gs-late"), unique("gs-ts"), unique("gs-mixed"))
    target.create(topic, partitions=2)
    for p in range(2):
        target.produce(topic, p, [("p%d-%d" % (p, i), T0 + i * 1000) for i in range(10)])
    # Move partition 0's log start to 3: earliest is the log start, not 0.
    res = target.admin.delete_records([TopicPartition(topic, 0, 3)])
    list(res.values())[0].result(30)
    # T0 + 5500 ms as ISO 8601 with milliseconds: the first record at or after it is number 6
    ts = datetime.datetime.fromtimestamp((T0 + 5500) / 1000.0, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    assert ts.endswith(".500Z")
    groups = [{"name": g_early, "topics": [topic], "policy": "earliest"},
              {"name": g_late, "topics": [topic], "policy": "latest"},
              {"name": g_ts, "topics": [topic], "policy": "timestamp", "timestamp": ts},
              {"name": g_mixed, "topics": [topic], "policy": "timestamp", "timestamp": T0 + 100000}]
    check = sync(clusters, check_mode=True, groups=groups)
    assert check["changed"] is True
    assert all(target.committed(g["name"]) == {} for g in groups)

    res = sync(clusters, groups=groups)
    assert res["changed"] is True
    assert dict((p, r["offset"]) for p, r in rows(res, g_early)[0].items()) == {0: 3, 1: 0}
    assert dict((p, r["offset"]) for p, r in rows(res, g_late)[0].items()) == {0: 10, 1: 10}
    assert dict((p, r["offset"]) for p, r in rows(res, g_ts)[0].items()) == {0: 6, 1: 6}
    assert set(r["how"] for r in rows(res, g_mixed)[0].values()) == {"timestamp-none-after"}
    assert sync(clusters, groups=groups)["changed"] is False

    assert target.first_records(g_early, topic, [0, 1]) == {0: (3, "p0-3"), 1: (0, "p1-0")}
    assert target.first_records(g_ts, topic, [0, 1]) == {0: (6, "p0-6"), 1: (6, "p1-6")}
    # latest: the first record a consumer of the group reads is the first one written after the sync.
    target.produce(topic, 1, [("new-1", T0 + 99000)])
    target.produce(topic, 0, [("new-0", T0 + 99000)])
    assert target.first_records(g_late, topic, [0, 1]) == {0: (10, "new-0"), 1: (10, "new-1")}


def test_active_group_on_the_target_is_skipped_or_fails(clusters, sides, unique):
    source, target = sides
    topic, busy, idle = unique("gs-act"), unique("gs-busy"), unique("gs-idle")
    target.create(topic, partitions=1)
    target.produce(topic, 0, [("r%d" % i, T0) for i in range(3)])
    target.groups.update([busy, idle])
    member = Consumer(dict(clusters.librdkafka("target"),
                           **{"group.id": busy, "auto.offset.reset": "earliest", "enable.auto.commit": False}))
    try:
        member.subscribe([topic])
        deadline = time.monotonic() + 30
        while not member.assignment() and time.monotonic() < deadline:
            member.poll(0.2)
        assert member.assignment(), "the member never joined"
        groups = [{"name": busy, "topics": [topic]}, {"name": idle, "topics": [topic]}]

        with pytest.raises(FailJson) as err:
            sync(clusters, groups=groups, policy="latest", fail_on_active=True)
        assert "group(s) %s have active members on the target" % busy in err.value.result["msg"]
        assert err.value.result["active_groups"] == [busy]
        assert target.committed(idle) == {}

        res = sync(clusters, groups=groups, policy="latest")
        assert res["active_groups"] == [busy] and "skipped" not in res
        assert rows(res, busy)[1]["status"] == "skipped_active"
        assert rows(res, busy)[1]["target_members"] == 1
        assert rows(res, idle)[1]["status"] == "changed"
        assert target.committed(idle) == {(topic, 0): 3}
        assert target.committed(busy) == {}
    finally:
        member.close()


def test_bad_inputs_fail_clearly_and_change_nothing(clusters, sides, unique):
    source, target = sides
    topic, group, missing = unique("gs-bad"), unique("gs-bad-app"), unique("gs-missing")
    target.create(topic, partitions=1)
    target.groups.add(group)
    cases = [
        ([{"name": group, "topics": [topic, missing]}], "topic %r does not exist on the target" % missing),
        ([{"name": group, "topics": ["bad topic!"]}], "topic name 'bad topic!' is illegal"),
        ([{"name": " " + group, "topics": [topic]}], "leading or trailing white space"),
        ([{"name": group}], "group %r has no committed offsets on the source: give its topics" % group),
        ([{"name": group, "topics": [topic], "policy": "timestamp", "timestamp": "2025-01-01T00:00:00"}],
         "has no time zone"),
    ]
    for groups, message in cases:
        with pytest.raises(FailJson) as err:
            sync(clusters, groups=groups)
        assert message in err.value.result["msg"], err.value.result["msg"]
    assert target.committed(group) == {}
    with pytest.raises(FailJson) as err:
        sync(clusters, groups=[{"name": group, "topics": [topic]}], policy="translate",
             offset_map_topic=unique("gs-no-such-map"))
    assert "offset map topic" in err.value.result["msg"] and "not found on the target" in err.value.result["msg"]
    assert target.committed(group) == {}


def test_all_source_groups_matching_a_pattern(clusters, sides, unique):
    source, target = sides
    topic = unique("gs-pat")
    prefix = unique("gs-pat-grp")
    a, b = prefix + "-a", prefix + "-b"
    source.create(topic, partitions=2)
    target.create(topic, partitions=2)
    target.produce(topic, 1, [("x", T0)])
    own = "kafkaops-migration-" + prefix + "-probe"      # a group of the collection's own clients
    source.commit(a, {(topic, 0): 0})
    source.commit(b, {(topic, 1): 0})
    source.commit(own, {(topic, 0): 0})
    target.groups.update([a, b, own])
    res = sync(clusters, group_pattern=prefix, policy="latest")   # searched anywhere: matches all three ids
    assert sorted(g["name"] for g in res["groups"]) == [a, b]
    assert target.committed(a) == {(topic, 0): 0, (topic, 1): 1}
    assert target.committed(b) == {(topic, 0): 0, (topic, 1): 1}
    assert target.committed(own) == {}


def test_unreachable_target_fails_within_the_timeout(clusters):
    t0 = time.monotonic()
    with pytest.raises(FailJson) as err:
        run_module(kafka_group_sync, dict(source=clusters.source, timeout=6, groups=[{"name": "g", "topics": ["t"]}],
                                          target={"bootstrap_servers": ["127.0.0.1:1"], "request_timeout": 3}))
    assert time.monotonic() - t0 < 15
    assert "target cluster (127.0.0.1:1)" in err.value.result["msg"]


def test_playbook_check_then_apply_then_unchanged(clusters, sides, unique):
    source, target = sides
    topic, group = unique("gs-pb"), unique("gs-pb-app")
    source.create(topic, partitions=2)
    target.create(topic, partitions=2)
    target.produce(topic, 0, [("a", T0), ("b", T0)])
    source.commit(group, {(topic, 0): 1})
    target.groups.add(group)
    rc, out = run_playbook(os.path.join(TARGET_DIR, "playbook.yml"),
                           {"kafka_source": clusters.source, "kafka_target": clusters.target,
                            "kafka_group_sync_group": group, "kafka_group_sync_topic": topic})
    assert rc == 0, out[-3000:]
    assert "failed=0" in out
    assert target.committed(group) == {(topic, 0): 2, (topic, 1): 0}


def test_translate_to_a_renamed_target_topic(clusters, sides, unique, tmp_path):
    source, target = sides
    topic, renamed, group = unique("gs-ren"), unique("gs-ren-v2"), unique("gs-ren-app")
    source.create(topic, partitions=1)
    target.create(renamed, partitions=1)
    source.produce(topic, 0, [("r%d" % i, T0) for i in range(4)])
    target.produce(renamed, 0, [("r%d" % i, T0) for i in range(4)])
    source.commit(group, {(topic, 0): 3})
    target.groups.add(group)
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"format": 1, "partitions": [
        {"topic": topic, "target_topic": renamed, "partition": 0, "runs": [[0, 0, 4]], "source_next": 4,
         "target_next": 4}]}))
    res = sync(clusters, groups=[{"name": group}], policy="translate", offset_map_file=str(path))
    row = rows(res, group)[0][0]
    assert (row["topic"], row["source_topic"], row["offset"]) == (renamed, topic, 3)
    assert target.committed(group) == {(renamed, 0): 3}
    assert target.first_records(group, renamed, [0]) == {0: (3, "r3")}


def test_wrong_target_password_fails_fast_without_echoing_it(clusters):
    t0 = time.monotonic()
    with pytest.raises(FailJson) as err:
        run_module(kafka_group_sync, dict(source=clusters.source, timeout=20, groups=[{"name": "g", "topics": ["t"]}],
                                          target=dict(clusters.target, sasl_password="not-the-secret", request_timeout=4)))
    assert time.monotonic() - t0 < 15
    assert err.value.result["msg"].startswith("target cluster (")
    assert "uthentication" in err.value.result["msg"]
    assert "not-the-secret" not in json.dumps(err.value.result)


def test_translate_warns_when_the_source_group_is_still_consuming(clusters, sides, unique, tmp_path):
    source, target = sides
    topic, group = unique("gs-live"), unique("gs-live-app")
    source.create(topic, partitions=1)
    target.create(topic, partitions=1)
    source.produce(topic, 0, [("r0", T0), ("r1", T0)])
    target.produce(topic, 0, [("r0", T0), ("r1", T0)])
    source.commit(group, {(topic, 0): 1})
    target.groups.add(group)
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"format": 1, "partitions": [
        {"topic": topic, "partition": 0, "runs": [[0, 0, 2]], "source_next": 2, "target_next": 2}]}))
    member = Consumer(dict(clusters.librdkafka("source"),
                           **{"group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False}))
    try:
        member.subscribe([topic])
        deadline = time.monotonic() + 30
        while not member.assignment() and time.monotonic() < deadline:
            member.poll(0.2)
        assert member.assignment(), "the member never joined"
        res = groups_core.sync_groups(Cluster(clusters.source, "source"), Cluster(clusters.target, "target"),
                                      {"groups": [{"name": group}], "policy": "translate", "fallback": "earliest",
                                       "offset_map_file": str(path)}, check_mode=True)
    finally:
        member.close()
    assert res["changed"] is True
    assert rows(res, group)[1]["source_state"] == "STABLE"
    assert res["warnings"] == ["group %r still has 1 active member(s) on the source: its committed offsets may move on "
                               "after this translation" % group]
    assert target.committed(group) == {}
