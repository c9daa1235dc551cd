"""The admin layer (admin.ClusterView and the one lag definition) against the real clusters."""

import re
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from ansible_collections.kafkaops.migration.plugins.module_utils import admin
from ansible_collections.kafkaops.migration.plugins.module_utils import lag as lag_rule
from ansible_collections.kafkaops.migration.plugins.module_utils.admin import ClusterView, Selection
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import Cluster, KafkaOpsError
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline, poll
from ansible_collections.kafkaops.migration.plugins.modules import kafka_lag_wait
from tests.utils.modules import run_module

pytestmark = pytest.mark.kafka

BASE_MS = 1_700_000_000_000  # record timestamps of the test (explicit, so "at" lookups are exact)


def view_of(options, name="source", timeout=60):
    return ClusterView(Cluster(options, name=name, deadline=Deadline(timeout)))


def alias_of(options):
    """The same cluster under another spelling: ``127.0.0.1:PORT`` <-> ``localhost:PORT``."""
    def swap(server):
        host, _sep, port = server.rpartition(":")
        return "%s:%s" % ("localhost" if host == "127.0.0.1" else "127.0.0.1", port)
    return dict(options, bootstrap_servers=[swap(s) for s in options["bootstrap_servers"]])


def wait_until(what, check, timeout=20.0, interval=0.1):
    """Bounded poll of the broker state a test depends on; returns the last value of ``check``."""
    value = None
    for _t in poll(interval, Deadline(timeout)):
        value = check()
        if value:
            return value
    raise AssertionError("timed out after %.0fs waiting for %s (last: %r)" % (timeout, what, value))


@pytest.fixture
def made(clusters):
    """Topics and groups a test creates on the source; removed at the end."""
    conf = clusters.librdkafka("source")
    client = AdminClient(conf)
    state = {"conf": conf, "admin": client, "topics": [], "groups": []}
    yield state
    if state["groups"]:
        for fut in client.delete_consumer_groups(state["groups"], request_timeout=15).values():
            try:
                fut.result()
            except Exception:
                pass
    if state["topics"]:
        for fut in client.delete_topics(state["topics"], operation_timeout=20, request_timeout=20).values():
            try:
                fut.result()
            except Exception:
                pass


def create(made, specs):
    """``specs``: [(name, partitions, {config})]; waits until every broker's metadata has the leaders."""
    new = [NewTopic(n, num_partitions=p, replication_factor=3, config=cfg or {}) for n, p, cfg in specs]
    for name, fut in made["admin"].create_topics(new, operation_timeout=20, request_timeout=20).items():
        fut.result()
        made["topics"].append(name)
    names = [s[0] for s in specs]

    def ready():
        md = made["admin"].list_topics(timeout=10)
        return all(n in md.topics and md.topics[n].partitions and
                   all(p.leader >= 0 for p in md.topics[n].partitions.values()) for n in names)
    wait_until("topic metadata", ready)


def commit(made, group, offsets):
    c = Consumer(dict(made["conf"], **{"group.id": group, "enable.auto.commit": False}))
    try:
        c.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False)
    finally:
        c.close()
    made["groups"].append(group)


def transactional_log(made, topic, tid):
    """Partition 0: records 0..4 committed (timestamps BASE_MS + i s), marker 5; records 6..8 aborted, marker 9.

    Waits until the broker's last stable offset covers both transactions: commit_transaction and
    abort_transaction return before the coordinator has written the markers.
    """
    p = Producer(dict(made["conf"], **{"transactional.id": tid, "acks": "all"}))
    p.init_transactions(20)
    p.begin_transaction()
    for i in range(5):
        p.produce(topic, key=b"c%d" % i, value=b"committed", partition=0, timestamp=BASE_MS + i * 1000)
    p.commit_transaction(20)
    p.begin_transaction()
    for i in range(3):
        p.produce(topic, key=b"a%d" % i, value=b"aborted", partition=0, timestamp=BASE_MS + 10_000 + i)
    assert p.flush(20) == 0  # on the broker before the abort (an abort purges what was not sent)
    p.abort_transaction(20)
    return p


def test_offsets_of_each_kind_on_a_transactional_topic(clusters, made, unique):
    prefix = unique("adm")
    topic = prefix + ".tx"
    create(made, [(topic, 1, {})])
    producer = transactional_log(made, topic, prefix + "-tx")
    view = view_of(clusters.source)
    tp = (topic, 0)
    wait_until("the LSO to cover both transactions", lambda: view.offsets([tp], "stable")[tp] >= 10)
    assert view.offsets([tp], "start") == {tp: 0}
    assert view.offsets([tp], "end") == {tp: 10}
    assert view.offsets([tp], "stable") == {tp: 10}
    assert view.offsets([tp], ("at", BASE_MS + 2000)) == {tp: 2}
    assert view.offsets([tp], ("at", BASE_MS + 2500)) == {tp: 3}
    # control records carry the broker's clock: the commit marker (5) is the first entry after BASE_MS + 1 day
    assert view.offsets([tp], ("at", BASE_MS + 86_400_000)) == {tp: 5}
    assert view.offsets([tp], ("at", int(time.time() * 1000) + 86_400_000))[tp] == -1  # nothing that late
    # all kinds at once: one call per kind, in flight together
    both, errors = view.offsets_of_kinds([tp], ["start", "end", "stable"])
    assert errors == {} and both == {"start": {tp: 0}, "end": {tp: 10}, "stable": {tp: 10}}

    # an open transaction: the high watermark moves on, the last stable offset stays before it
    producer.begin_transaction()
    for i in range(3):
        producer.produce(topic, value=b"open", partition=0)
    assert producer.flush(20) == 0
    wait_until("the open records in the high watermark", lambda: view.offsets([tp], "end")[tp] == 13)
    assert view.offsets([tp], "stable") == {tp: 10}

    # the one lag definition on this log: a group at 5 has only markers and aborted records before the
    # open transaction; read_committed consumers cannot reach the open records yet
    rows = lag_rule.measure(view, {"at5": {tp: 5}, "at4": {tp: 4}, "none": {tp: None}}, "read_committed")
    assert rows["at5"][tp]["status"] == admin.OPEN_TRANSACTION and rows["at5"][tp]["lag"] == 3
    assert rows["at4"][tp]["status"] == admin.BEHIND and rows["at4"][tp]["lag"] == 9
    assert rows["none"][tp]["position"] == 0 and rows["none"][tp]["status"] == admin.BEHIND
    producer.abort_transaction(20)
    wait_until("the LSO past the aborted open transaction", lambda: view.offsets([tp], "stable")[tp] == 14)
    rows = lag_rule.measure(view, {"at5": {tp: 5}}, "read_committed")
    assert rows["at5"][tp]["status"] == admin.DRAINED and rows["at5"][tp]["lag"] == 0
    # read_uncommitted consumers receive aborted records: for them the group at 5 is behind
    rows = lag_rule.measure(view, {"at5": {tp: 5}}, "read_uncommitted")
    assert rows["at5"][tp]["status"] == admin.BEHIND and rows["at5"][tp]["lag"] == 8


def test_unknown_partitions_are_reported_not_retried_for_ever(clusters, unique):
    view = view_of(clusters.source)
    t0 = time.monotonic()
    out, errors = view.offsets_of_kinds([(unique("nope"), 0)], ["end"])
    assert out == {"end": {}} and len(errors) == 1
    assert admin.is_unknown_topic(list(errors.values())[0])
    assert time.monotonic() - t0 < admin.UNKNOWN_TOPIC_GRACE + view.cluster.request_timeout
    with pytest.raises(KafkaOpsError, match=r"source cluster \(.*\): list offsets \(end\) failed for 1 item"):
        view.offsets([(unique("nope"), 0)], "end")


def test_committed_offsets_of_two_groups_in_one_call_and_group_states(clusters, made, unique):
    prefix = unique("admg")
    topic = prefix + ".t"
    create(made, [(topic, 2, {})])
    g1, g2, active = prefix + "-one", prefix + "-two", prefix + "-active"
    commit(made, g1, {(topic, 0): 3, (topic, 1): 1})
    commit(made, g2, {(topic, 0): 7})
    view = view_of(clusters.source)
    assert view.committed([g1, g2]) == {g1: {(topic, 0): 3, (topic, 1): 1}, g2: {(topic, 0): 7}}
    assert view.committed([g1, g2], tps=[(topic, 1)]) == {g1: {(topic, 1): 1}, g2: {}}
    assert view.committed([g1], require_stable=True) == {g1: {(topic, 0): 3, (topic, 1): 1}}

    consumer = Consumer(dict(made["conf"], **{"group.id": active, "enable.auto.commit": False,
                                              "session.timeout.ms": 10000}))
    made["groups"].append(active)
    try:
        consumer.subscribe([topic])

        def joined():
            consumer.poll(0.2)
            return consumer.assignment()
        wait_until("the consumer's assignment", joined, timeout=30)
        states = view.groups([g1, active, prefix + "-never"])
        assert states[g1]["state"] == "EMPTY" and states[g1]["members"] == 0
        assert states[active]["state"] == "STABLE" and states[active]["members"] == 1
        assert states[active]["assigned_topics"] == [topic]
        assert states[prefix + "-never"]["state"] == "DEAD" and states[prefix + "-never"]["members"] == 0
    finally:
        consumer.close()
    ids, errors = view.list_groups()
    assert {g1, g2} <= set(ids) and errors == []


def test_configs_are_the_non_default_ones_and_partitions_report_missing_topics(clusters, made, unique):
    prefix = unique("admc")
    plain, tuned = prefix + ".plain", prefix + ".tuned"
    create(made, [(plain, 1, {}), (tuned, 3, {"retention.ms": "7200000", "cleanup.policy": "compact"})])
    view = view_of(clusters.source)
    assert view.configs([plain, tuned]) == {plain: {}, tuned: {"retention.ms": "7200000", "cleanup.policy": "compact"}}
    full = view.topic_configs([tuned])[tuned]
    assert full["effective"]["retention.ms"] == "7200000" and "segment.bytes" in full["effective"]
    missing = prefix + ".missing"
    assert view.partitions([plain, tuned, missing]) == ({plain: 1, tuned: 3}, [missing])
    assert view.select(Selection([re.escape(prefix) + r"\..*"], [r".*\.plain"])) == [tuned]
    names = view.topics()
    assert "__consumer_offsets" in names and "__consumer_offsets" not in view.select(Selection([".*"]), names)


def test_identity_tells_clusters_apart_whatever_the_spelling(clusters):
    source, target = view_of(clusters.source), view_of(clusters.target, "target")
    alias = view_of(alias_of(clusters.source), "target")
    assert alias.cluster.base_config["bootstrap.servers"].startswith("localhost:")
    assert source.identity() and source.identity() != target.identity()
    assert alias.identity() == source.identity()
    admin.ensure_distinct(source.cluster, target.cluster)
    with pytest.raises(KafkaOpsError, match="the source and the target are the same cluster"):
        admin.ensure_distinct(source.cluster, alias.cluster)


def test_lag_wait_takes_include_and_exclude(clusters, made, unique):
    prefix = unique("admw")
    a, b = prefix + ".a", prefix + ".b"
    create(made, [(a, 1, {}), (b, 1, {})])
    p = Producer(dict(made["conf"], **{"acks": "all"}))
    for t in (a, b):
        for i in range(4):
            p.produce(t, value=b"v", partition=0)
    assert p.flush(20) == 0
    group = prefix + "-g"
    commit(made, group, {(a, 0): 4, (b, 0): 1})  # drained on a, behind on b
    base = {"cluster": clusters.source, "groups": [group], "interval": 0.5, "timeout": 30}
    res = run_module(kafka_lag_wait, dict(base, include=[re.escape(prefix) + r"\..*"], exclude=[r".*\.b"]))
    assert res["drained"] is True and [r["topic"] for r in res["groups"][group]["partitions"]] == [a]
    with pytest.raises(Exception) as err:
        run_module(kafka_lag_wait, dict(base, include=[re.escape(prefix) + r"\.zzz"]))
    assert "selects no topic" in err.value.result["msg"]
