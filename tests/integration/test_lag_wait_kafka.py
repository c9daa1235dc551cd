"""kafka_lag_wait against the real clusters: transactions, timeouts with history, idle, max_lag, errors.

Every test makes its own topics and groups (unique names) and deletes them afterwards. Groups commit
the way applications do: a read_committed consumer that commits "last record + 1" after processing,
which leaves the commit marker (and an aborted transaction) after the committed offset.
"""

import json
import os
import threading
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from ansible_collections.kafkaops.migration.plugins.modules import kafka_lag_wait
from tests.utils.modules import FailJson, run_module
from tests.utils.playbook import run_playbook
from tests.utils.wait import wait_topics_on_every_broker, wait_transactions_settled

pytestmark = pytest.mark.kafka

TARGET_DIR = os.path.join(os.path.dirname(__file__), "targets", "kafka_lag_wait")


class Side:
    """One cluster: topics, producing, committing; deletes what it made."""

    def __init__(self, conf):
        self.conf = dict(conf)
        self.admin = AdminClient(self.conf)
        self.topics, self.groups = set(), set()

    def create(self, topic, partitions=1):
        self.admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic].result(30)
        self.topics.add(topic)
        wait_topics_on_every_broker(self.conf, topic, partitions)  # not only the broker asked first
        return topic

    def producer(self, transactional_id=None):
        conf = dict(self.conf, **{"enable.idempotence": True, "acks": "all", "linger.ms": 0})
        if transactional_id:
            conf["transactional.id"] = transactional_id
        return Producer(conf)

    def produce(self, topic, values, partition=0):
        p = self.producer()
        for v in values:
            p.produce(topic, key=b"k", value=v, partition=partition)
        assert p.flush(15) == 0

    def commit(self, group, topic, offsets):
        """Commit ``{partition: offset}`` for ``group`` (assign only: the group has no members after)."""
        self.groups.add(group)
        c = Consumer(dict(self.conf, **{"group.id": group, "enable.auto.commit": False}))
        c.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
        c.close()

    def consume_and_commit(self, group, topic, expected):
        """A read_committed application: process ``expected`` records, commit each as last offset + 1."""
        self.groups.add(group)
        c = Consumer(dict(self.conf, **{"group.id": group, "enable.auto.commit": False, "isolation.level": "read_committed",
                                        "auto.offset.reset": "earliest"}))
        c.subscribe([topic])
        got, deadline = [], time.monotonic() + 30
        while len(got) < expected and time.monotonic() < deadline:
            m = c.poll(0.3)
            if m is not None and m.error() is None:
                got.append(m.value())
                c.commit(message=m, asynchronous=False)
        c.close()
        return got

    def cleanup(self):
        if self.groups:
            for fut in self.admin.delete_consumer_groups(sorted(self.groups), request_timeout=10).values():
                try:
                    fut.result(15)
                except Exception:
                    pass
        if self.topics:
            for fut in self.admin.delete_topics(sorted(self.topics), operation_timeout=10).values():
                try:
                    fut.result(15)
                except Exception:
                    pass


@pytest.fixture
def source(clusters):
    side = Side(clusters.librdkafka("source"))
    yield side
    side.cleanup()


def transactional_topic(source, topic, tag):
    """p0: committed txn (offsets 0-2, marker 3), aborted txn (4-5, marker 6); p1: 0-1 + marker 2."""
    source.create(topic, partitions=2)
    p = source.producer("lagwait-%s" % tag)
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(3):
        p.produce(topic, value=b"ok-%d" % i, partition=0)
    for i in range(2):
        p.produce(topic, value=b"ok-p1-%d" % i, partition=1)
    p.commit_transaction(30)
    p.begin_transaction()
    for i in range(2):
        p.produce(topic, value=b"aborted-%d" % i, partition=0)
    p.flush(15)
    p.abort_transaction(30)
    # The abort marker (offset 6 on p0) is written after abort_transaction returns.
    wait_transactions_settled(source.admin, topic, 2)


def args(clusters, **kw):
    out = {"cluster": dict(clusters.source, request_timeout=5), "interval": 0.3, "timeout": 20}
    out.update(kw)
    return out


def test_transactional_group_drains_though_markers_and_aborted_records_remain(clusters, source, unique):
    topic, group = unique("lag-tx"), unique("lag-tx-app")
    transactional_topic(source, topic, unique("tx"))
    assert sorted(source.consume_and_commit(group, topic, 5)) == [b"ok-0", b"ok-1", b"ok-2", b"ok-p1-0", b"ok-p1-1"]

    res = run_module(kafka_lag_wait, args(clusters, groups=[group], stable_for=1.0), check_mode=True)

    assert res["changed"] is False and res["drained"] is True and res["outcome"] == "drained"
    parts = {p["partition"]: p for p in res["groups"][group]["partitions"]}
    # The naive lag is not 0: marker at 3, aborted 4-5, marker 6 on p0; marker 2 on p1.
    assert (parts[0]["committed"], parts[0]["log_end"]) == (3, 7)
    assert (parts[1]["committed"], parts[1]["log_end"]) == (2, 3)
    assert all(p["lag"] == 0 and p["status"] == "drained" for p in parts.values())
    assert res["total_lag"] == 0 and res["groups"][group]["lag"] == 0
    # stable_for=1 with interval 0.3: several polls, all drained, spanning at least a second
    assert res["polls"] >= 3 and res["history"][-1]["elapsed"] - res["history"][0]["elapsed"] >= 1.0
    assert all(s["total_lag"] == 0 for s in res["history"])
    assert res["duration"] < 15

    # A read_uncommitted application would receive the aborted records: not drained on p0.
    with pytest.raises(FailJson) as err:
        run_module(kafka_lag_wait, args(clusters, groups=[group], isolation_level="read_uncommitted", timeout=2))
    parts = {p["partition"]: p for p in err.value.result["groups"][group]["partitions"]}
    # the marker at 3 is proven empty, the aborted record at 4 is deliverable: lag = 7 - 4
    assert parts[0]["status"] == "behind" and parts[0]["lag"] == 3
    assert parts[1]["status"] == "drained"

    # Two groups at different undecided positions on the same partitions: each is decided on its own.
    late = unique("lag-tx-late")
    source.commit(late, topic, {0: 0, 1: 0})
    with pytest.raises(FailJson) as err:
        run_module(kafka_lag_wait, args(clusters, groups=[late, group], timeout=2))
    res = err.value.result
    assert [p["status"] for p in res["groups"][group]["partitions"]] == ["drained", "drained"]
    assert [(p["status"], p["lag"]) for p in res["groups"][late]["partitions"]] == [("behind", 7), ("behind", 3)]
    assert res["msg"].endswith("not drained: %s (lag 10 on 2 partition(s)); no progress seen" % late)


def test_group_that_never_finishes_times_out_with_partial_result_and_history(clusters, source, unique, tmp_path):
    topic, group = unique("lag-stuck"), unique("lag-stuck-app")
    source.create(topic)
    source.produce(topic, [b"m%d" % i for i in range(5)])
    source.commit(group, topic, {0: 2})
    history = tmp_path / "history.json"
    # the application makes some progress after about a second, then stalls
    timer = threading.Timer(1.0, source.commit, (group, topic, {0: 3}))
    timer.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(FailJson) as err:
            run_module(kafka_lag_wait, args(clusters, groups=[group], timeout=3.0, interval=0.4,
                                            history_file=str(history)))
    finally:
        timer.join()
    took = time.monotonic() - t0
    res = err.value.result
    assert took < 8
    assert res["failed"] is True and res["changed"] is False and res["outcome"] == "timeout"
    assert "timed out after" in res["msg"] and "%s (lag 2 on 1 partition(s))" % group in res["msg"]
    assert "last progress at" in res["msg"]
    part = res["groups"][group]["partitions"][0]
    assert (part["committed"], part["log_end"], part["lag"], part["status"]) == (3, 5, 2, "behind")
    assert 0.5 < res["last_progress"] < 3.0 and res["groups"][group]["last_progress"] == res["last_progress"]
    lags = [s["total_lag"] for s in res["history"]]
    assert lags[0] == 3 and lags[-1] == 2 and lags == sorted(lags, reverse=True) and len(lags) >= 4

    doc = json.loads(history.read_text())
    assert doc["format"] == "kafkaops.migration.lag_history" and doc["version"] == 1
    assert doc["outcome"] == "timeout" and doc["finished"] is not None
    assert doc["groups"] == [group] and doc["until"] == "drained"
    assert doc["samples"] == res["history"]
    assert all(set(s) == {"time", "elapsed", "total_lag", "lag", "log_end"} for s in doc["samples"])
    assert doc["samples"][-1]["lag"] == {group: 2} and doc["samples"][-1]["log_end"] == 5


def test_idle_waits_while_a_producer_writes_and_ends_after_it_stops(clusters, source, unique):
    topic = unique("lag-idle")
    source.create(topic)
    stop = threading.Event()
    stopped = []

    def write():
        p = source.producer()
        while not stop.is_set():
            p.produce(topic, value=b"tick", partition=0)
            p.flush(5)
            time.sleep(0.1)
        stopped.append(time.monotonic())

    writer = threading.Thread(target=write)
    writer.start()
    try:
        with pytest.raises(FailJson) as err:
            run_module(kafka_lag_wait, args(clusters, until="idle", topics=[topic], stable_for=1.0, timeout=2.5))
        busy = err.value.result
        assert "still written: %s" % topic in busy["msg"]
        assert busy["idle"] is False and busy["last_write"] is not None
        ends = [s["log_end"] for s in busy["history"]]
        assert ends == sorted(ends) and ends[-1] > ends[0]
        assert busy["history"][0]["total_lag"] is None

        threading.Timer(1.0, stop.set).start()
        t0 = time.monotonic()
        res = run_module(kafka_lag_wait, args(clusters, until="idle", topics=[topic], stable_for=1.0, timeout=20))
        done = time.monotonic()
    finally:
        stop.set()
        writer.join()
    assert res["idle"] is True and res["outcome"] == "idle" and res["changed"] is False
    assert done - stopped[0] >= 1.0  # idle only once the log end held still for stable_for after the last write
    assert done - t0 < 10
    assert res["topics"][topic]["last_write"] is not None
    assert res["history"][-1]["log_end"] == res["history"][-2]["log_end"]


def test_max_lag_accepts_a_bounded_lag_and_groups_without_commits_count_from_the_log_start(clusters, source, unique):
    topic, empty, group = unique("lag-max"), unique("lag-empty"), unique("lag-max-app")
    source.create(topic)
    source.create(empty)
    source.produce(topic, [b"a", b"b", b"c", b"d"])
    source.commit(group, topic, {0: 1})

    res = run_module(kafka_lag_wait, args(clusters, groups=[group], max_lag=3))
    part = res["groups"][group]["partitions"][0]
    assert res["drained"] is True and part["lag"] == 3 and part["status"] == "behind"

    with pytest.raises(FailJson) as err:
        run_module(kafka_lag_wait, args(clusters, groups=[group], max_lag=2, timeout=1.5))
    assert err.value.result["total_lag"] == 3

    # Given topics: a partition without a commit is measured from the log start; an empty one is drained.
    res = run_module(kafka_lag_wait, args(clusters, groups=[group], topics=[topic, empty], max_lag=3))
    parts = dict((p["topic"], p) for p in res["groups"][group]["partitions"])
    assert parts[empty]["committed"] is None and parts[empty]["status"] == "drained" and parts[empty]["log_start"] == 0
    assert parts[topic]["lag"] == 3


def test_open_transaction_keeps_waiting_and_its_abort_drains(clusters, source, unique):
    topic, group = unique("lag-open"), unique("lag-open-app")
    source.create(topic)
    source.produce(topic, [b"plain-0", b"plain-1"])
    source.commit(group, topic, {0: 2})
    p = source.producer("lagwait-open-%s" % unique("tx"))
    p.init_transactions(30)
    p.begin_transaction()
    p.produce(topic, value=b"pending", partition=0)
    p.produce(topic, value=b"pending", partition=0)
    p.flush(15)
    try:
        with pytest.raises(FailJson) as err:
            run_module(kafka_lag_wait, args(clusters, groups=[group], timeout=2))
        part = err.value.result["groups"][group]["partitions"][0]
        assert (part["status"], part["stable_end"], part["log_end"], part["lag"]) == ("open_transaction", 2, 4, 2)
    finally:
        p.abort_transaction(30)
    res = run_module(kafka_lag_wait, args(clusters, groups=[group], timeout=15))
    part = res["groups"][group]["partitions"][0]
    assert res["drained"] is True and part["committed"] == 2 and part["log_end"] == 5 and part["status"] == "drained"


def test_target_over_scram_resolves_the_group_topics(clusters, unique):
    target = Side(clusters.librdkafka("target"))
    try:
        topic, group = unique("lag-target"), unique("lag-target-app")
        target.create(topic, partitions=2)
        target.produce(topic, [b"x"], partition=1)
        target.commit(group, topic, {1: 1})
        res = run_module(kafka_lag_wait, {"cluster": clusters.target, "groups": [group], "interval": 0.3, "timeout": 20})
        parts = res["groups"][group]["partitions"]
        assert [(p["partition"], p["committed"], p["status"]) for p in parts] == [(0, None, "drained"), (1, 1, "drained")]
    finally:
        target.cleanup()


def test_members_waits_for_a_consumer_to_join_and_times_out_without_one(clusters, source, unique):
    topic = source.create(unique("lw-members"), partitions=2)
    group = unique("lw-members-g")
    source.groups.add(group)
    # nobody in the group yet (the cluster does not even know it): a bounded wait that says so
    with pytest.raises(FailJson) as err:
        run_module(kafka_lag_wait, args(clusters, until="members", groups=[group], timeout=8))
    assert "waiting for groups to have 1 member(s)" in err.value.result["msg"] and group in err.value.result["msg"]
    assert err.value.result["members"] is False

    joined = threading.Event()
    consumer = Consumer(dict(source.conf, **{"group.id": group, "enable.auto.commit": False}))
    consumer.subscribe([topic], on_assign=lambda c, parts: joined.set())
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            consumer.poll(0.2)
    worker = threading.Thread(target=loop)
    worker.start()
    try:
        res = run_module(kafka_lag_wait, args(clusters, until="members", groups=[group], timeout=40))
        assert res["outcome"] == "members" and res["members"] is True and joined.is_set()
        assert res["groups"][group]["state"] == "STABLE" and res["groups"][group]["members"] == 1
        assert res["groups"][group]["assigned_topics"] == [topic]
        with pytest.raises(FailJson) as err:    # two members are not there
            run_module(kafka_lag_wait, args(clusters, until="members", groups=[group], min_members=2, timeout=6))
        assert "1 member(s)" in err.value.result["msg"]
    finally:
        stop.set()
        worker.join()
        consumer.close()


def test_written_counts_only_records_written_after_since(clusters, source, unique):
    topic = source.create(unique("lw-written"), partitions=3)
    source.produce(topic, [b"before-%d" % i for i in range(5)], partition=1)
    since = int(time.time() * 1000) + 1
    # records written before `since` do not count: a bounded wait that says what it found
    with pytest.raises(FailJson) as err:
        run_module(kafka_lag_wait, args(clusters, until="written", topics=[topic], since=since, timeout=6))
    assert "0 found, 1 wanted" in err.value.result["msg"] and err.value.result["written"] == 0
    while int(time.time() * 1000) <= since:     # the next record's timestamp is at or after `since`
        time.sleep(0.001)
    source.produce(topic, [b"after-%d" % i for i in range(3)], partition=2)
    res = run_module(kafka_lag_wait, args(clusters, until="written", topics=[topic], since=since, timeout=20))
    assert res["outcome"] == "written" and res["written"] == 3
    parts = dict((p["partition"], p) for p in res["topics"][topic]["partitions"])
    assert parts[1]["written"] == 0 and parts[1]["first_since"] is None
    assert parts[2]["written"] == 3 and parts[2]["first_since"] == 0
    with pytest.raises(FailJson):               # 4 records are not there
        run_module(kafka_lag_wait, args(clusters, until="written", topics=[topic], since=since, min_records=4, timeout=4))


def test_unknown_group_and_missing_topic_fail_clearly(clusters, unique):
    t0 = time.monotonic()
    with pytest.raises(FailJson) as err:
        run_module(kafka_lag_wait, args(clusters, groups=[unique("no-such-group")]))
    assert "unknown consumer group(s): %s" % unique("no-such-group") in err.value.result["msg"]
    assert err.value.result["unknown_groups"] == [unique("no-such-group")]
    with pytest.raises(FailJson) as err:
        run_module(kafka_lag_wait, args(clusters, until="idle", topics=[unique("no-such-topic")]))
    assert "topic(s) do not exist: %s" % unique("no-such-topic") in err.value.result["msg"]
    assert time.monotonic() - t0 < 10


def test_unreachable_cluster_fails_within_the_timeout():
    t0 = time.monotonic()
    with pytest.raises(FailJson) as err:
        run_module(kafka_lag_wait, {"cluster": {"bootstrap_servers": ["127.0.0.1:1"]}, "groups": ["g"], "timeout": 3})
    assert time.monotonic() - t0 < 7
    assert "cluster (127.0.0.1:1)" in err.value.result["msg"] and "cluster cluster" not in err.value.result["msg"]
    assert err.value.result["changed"] is False


def test_playbook(clusters, source, unique, tmp_path):
    topic, done_group, stuck_group = unique("lag-pb"), unique("lag-pb-done"), unique("lag-pb-stuck")
    transactional_topic(source, topic, unique("pb"))
    source.consume_and_commit(done_group, topic, 5)
    source.commit(stuck_group, topic, {0: 1, 1: 2})
    history = tmp_path / "pb-history.json"
    rc, out = run_playbook(os.path.join(TARGET_DIR, "playbook.yml"), {
        "kafka_source": clusters.source, "kafka_lag_wait_topic": topic, "kafka_lag_wait_done_group": done_group,
        "kafka_lag_wait_stuck_group": stuck_group, "kafka_lag_wait_history": str(history)})
    assert rc == 0, out[-3000:]
    assert "failed=0" in out
    doc = json.loads(history.read_text())
    assert doc["outcome"] == "timeout" and doc["samples"][-1]["lag"] == {stuck_group: 6}
