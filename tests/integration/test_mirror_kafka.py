"""kafka_mirror (engine builtin) against the real clusters: exactness, crash/resume, transactions.

Every test creates its own source and target topics and its own offset-map topic (unique names) and
deletes them at the end. Comparisons read both sides ``read_committed`` and compare, per partition and
in order, key, value, headers and timestamp; the offset map must translate every source offset to
the target offset of the same record.
"""

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from ansible_collections.kafkaops.migration.plugins.module_utils import mirror
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import Cluster, KafkaOpsError
from ansible_collections.kafkaops.migration.plugins.module_utils.offsetmap import load_from_topic
from ansible_collections.kafkaops.migration.plugins.modules import kafka_mirror
from tests.utils.collection import collections_root
from tests.utils.modules import FailJson, run_module
from tests.utils.playbook import run_playbook
from tests.utils.wait import wait_stable_offsets, wait_topics_on_every_broker, wait_transactions_settled

pytestmark = pytest.mark.kafka

HERE = os.path.dirname(os.path.abspath(__file__))


# -- helpers ---------------------------------------------------------------------------------------
class Topics:
    """Creates topics on either cluster and deletes all of them at teardown."""

    def __init__(self, clusters):
        self.clusters = clusters
        self.admins = {n: AdminClient(clusters.librdkafka(n)) for n in ("source", "target")}
        self.created = {"source": [], "target": []}

    def create(self, side, name, partitions=1, rf=1, config=None):
        fut = self.admins[side].create_topics([NewTopic(name, partitions, rf, config=config or {})])[name]
        fut.result(30)
        self.created[side].append(name)
        # Brokers learn of new topics asynchronously: wait until each one (asked first by a client
        # bootstrapped from it alone) lists the topic, so the copier's first metadata request sees it.
        wait_topics_on_every_broker(self.clusters.librdkafka(side), name, partitions)
        return name

    def both(self, name, partitions=1, src_config=None, tgt_config=None, tgt_partitions=None):
        self.create("source", name, partitions, 2, src_config)
        self.create("target", name, tgt_partitions or partitions, 2, tgt_config)
        return name

    def track(self, side, name):
        self.created[side].append(name)

    def cleanup(self):
        for side, names in self.created.items():
            if names:
                for fut in self.admins[side].delete_topics(list(set(names)), operation_timeout=20).values():
                    try:
                        fut.result(30)
                    except Exception:
                        pass


@pytest.fixture
def topics(clusters):
    t = Topics(clusters)
    yield t
    t.cleanup()


def produce(clusters, topic, records, transactional_id=None, abort=False):
    """Produce ``[(partition, key, value, headers, timestamp_ms), ...]`` to the source."""
    conf = dict(clusters.librdkafka("source"), **{"linger.ms": 5, "enable.idempotence": True})
    if transactional_id:
        conf["transactional.id"] = transactional_id
    p = Producer(conf)
    if transactional_id:
        p.init_transactions(30)
        p.begin_transaction()
    for part, key, value, headers, ts in records:
        kwargs = {"partition": part, "timestamp": ts}
        if headers is not None:
            kwargs["headers"] = headers
        while True:
            try:
                p.produce(topic, value, key, **kwargs)
                break
            except BufferError:
                p.poll(0.05)
    if transactional_id:
        if abort:
            # Deliver the records before aborting: abort_transaction purges what is still queued, and
            # the source would then hold no aborted records at all.
            assert p.flush(30) == 0
        (p.abort_transaction if abort else p.commit_transaction)(30)
    assert p.flush(30) == 0
    if transactional_id:
        # commit/abort_transaction return once the coordinator has decided; the markers (and so the
        # last stable offset a read_committed copier reads up to) reach the partitions a moment later.
        wait_transactions_settled(AdminClient(clusters.librdkafka("source")), topic, {r[0] for r in records})


def recent_ms(hours_ago=1.0):
    """A timestamp in the recent past: distinct from the append time, yet young enough that the
    brokers neither roll segments for it nor delete it by retention (both go by record timestamps)."""
    return int((time.time() - hours_ago * 3600) * 1000)


def make_records(partitions, per_partition, seed=0, start_ts=None):
    rnd = random.Random(seed)
    start_ts = recent_ms() if start_ts is None else start_ts
    out = []
    for i in range(per_partition):
        for part in range(partitions):
            n = i * partitions + part
            key = None if n % 7 == 0 else ("k%d" % (n % 50)).encode()
            value = None if n % 11 == 0 else bytes(rnd.getrandbits(8) for j in range(rnd.randint(0, 300)))
            headers = None if n % 3 else [("h", b"x%d" % n), ("h", None), ("trace", b"t")]
            out.append((part, key, value, headers, start_ts + n))
    return out


def read_side(clusters, side, topic, partitions):
    """``{partition: [(offset, key, value, headers, timestamp), ...]}`` read_committed, to the end."""
    conf = dict(clusters.librdkafka(side))
    conf.update({"group.id": "kafkaops-test-reader", "enable.auto.commit": False,
                 "isolation.level": "read_committed", "enable.partition.eof": True})
    c = Consumer(conf)
    out = {p: [] for p in range(partitions)}
    try:
        pending = set()
        assign = []
        for p in range(partitions):
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if hi > lo:
                pending.add(p)
            assign.append(TopicPartition(topic, p, lo))
        c.assign(assign)
        deadline = time.monotonic() + 60
        while pending and time.monotonic() < deadline:
            for m in c.consume(1000, timeout=1):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        pending.discard(m.partition())
                        continue
                    raise AssertionError(m.error().str())
                out[m.partition()].append((m.offset(), m.key(), m.value(), m.headers() or [], m.timestamp()[1]))
        assert not pending, "could not read %s to the end on %s" % (topic, side)
    finally:
        c.close()
    return out


def strip(records):
    return [r[1:] for r in records]


def assert_exact_copy(clusters, topic, partitions, map_topic):
    """Same records, same order, same partition; and the map translates every offset exactly."""
    src = read_side(clusters, "source", topic, partitions)
    tgt = read_side(clusters, "target", topic, partitions)
    for p in range(partitions):
        assert strip(tgt[p]) == strip(src[p]), "partition %d differs" % p
    omap = load_from_topic(Cluster(clusters.target, "target"), map_topic)
    for p in range(partitions):
        for s, t in zip(src[p], tgt[p]):
            assert omap.translate(topic, p, s[0]) == (t[0], "mapped")
    return src, tgt


def params(clusters, map_topic, **kw):
    p = dict(source=clusters.source, target=clusters.target, offset_map_topic=map_topic, timeout=120)
    p.update(kw)
    return p


def run_core(clusters, map_topic, check_mode=False, **kw):
    p = mirror.params_with_defaults(dict(offset_map_topic=map_topic, **kw))
    return mirror.run_mirror(p, Cluster(clusters.source, "source"), Cluster(clusters.target, "target"),
                             check_mode=check_mode)


# -- tests -----------------------------------------------------------------------------------------
def test_snapshot_copies_exactly_then_is_idempotent(clusters, topics, unique, tmp_path):
    topic = topics.both(unique("mir-exact"), 3)
    map_topic = unique("mir-map")
    topics.track("target", map_topic)
    produce(clusters, topic, make_records(3, 300))
    progress = tmp_path / "progress.json"
    first = run_core(clusters, map_topic, topics=[topic], name=unique("n"), progress_file=str(progress),
                     batch_records=250)
    assert first["changed"] is True and first["records"] == 900 and first["offset_map_created"] is True
    assert first["transactions"] >= 3
    assert json.loads(progress.read_text())["status"] == "done"
    assert json.loads(progress.read_text())["records"] == 900
    assert all(p["lag"] == 0 and p["next"] == 300 for p in first["partitions"])
    assert_exact_copy(clusters, topic, 3, map_topic)
    again = run_core(clusters, map_topic, topics=[topic], name=first["name"])
    assert again["changed"] is False and again["records"] == 0
    assert all(p["resumed"] for p in again["partitions"])


def test_incremental_runs_append_only_new_records(clusters, topics, unique):
    topic = topics.both(unique("mir-incr"), 2)
    map_topic = unique("mir-map")
    topics.track("target", map_topic)
    produce(clusters, topic, make_records(2, 50, seed=1))
    name = unique("n")
    assert run_core(clusters, map_topic, topics=[topic], name=name)["records"] == 100
    produce(clusters, topic, make_records(2, 30, seed=2, start_ts=recent_ms(0.5)))
    second = run_core(clusters, map_topic, topics=[topic], name=name)
    assert second["records"] == 60
    assert [p["start"] for p in second["partitions"]] == [50, 50]
    assert_exact_copy(clusters, topic, 2, map_topic)


def test_aborted_source_transactions_are_not_copied(clusters, topics, unique):
    topic = topics.both(unique("mir-txn"), 2)
    map_topic = unique("mir-map")
    topics.track("target", map_topic)
    tid = unique("src-txn")
    produce(clusters, topic, make_records(2, 20, seed=3), transactional_id=tid)
    produce(clusters, topic, [(p, b"aborted", b"never", None, recent_ms()) for p in (0, 1) for i in range(15)],
            transactional_id=tid, abort=True)
    produce(clusters, topic, make_records(2, 10, seed=4), transactional_id=tid)
    # The copy reads up to the last stable offset: it must include the last commit marker on both
    # partitions (20 records + marker, 15 aborted + marker, 10 records + marker = 48) before it starts.
    wait_stable_offsets(AdminClient(clusters.librdkafka("source")), {(topic, 0): 48, (topic, 1): 48})
    res = run_core(clusters, map_topic, topics=[topic], name=unique("n"))
    assert res["records"] == 60
    src, tgt = assert_exact_copy(clusters, topic, 2, map_topic)
    assert all(r[1] != b"aborted" for p in tgt for r in tgt[p])
    # The source has gaps (aborted records, markers): the map's runs skip them, and a group that had
    # consumed everything translates to the end of the copied data.
    omap = load_from_topic(Cluster(clusters.target, "target"), map_topic)
    for p in (0, 1):
        assert len(omap.partitions[(topic, p)].runs) >= 2
        end = src[p][-1][0] + 2  # after the last commit marker
        assert omap.translate(topic, p, end) == (tgt[p][-1][0] + 1, "after_copied")
    assert run_core(clusters, map_topic, topics=[topic], name=res["name"])["changed"] is False


def test_empty_topics_and_patterns(clusters, topics, unique):
    prefix = unique("mir-empty")
    for i in range(3):
        topics.both("%s.%d" % (prefix, i), 2)
    map_topic = unique("mir-map")
    topics.track("target", map_topic)
    res = run_core(clusters, map_topic, topic_patterns=[prefix.replace(".", r"\.") + r"\.\d"],
                   exclude_patterns=[r".*\.2"], name=unique("n"))
    assert res["topics"] == ["%s.0" % prefix, "%s.1" % prefix]
    assert res["records"] == 0 and len(res["partitions"]) == 4
    again = run_core(clusters, map_topic, topic_patterns=[prefix + r"\.\d"], exclude_patterns=[r".*\.2"],
                     name=res["name"])
    assert again["changed"] is False
    assert read_side(clusters, "target", "%s.0" % prefix, 2) == {0: [], 1: []}


def test_compacted_topic_keeps_tombstones(clusters, topics, unique):
    cfg = {"cleanup.policy": "compact"}
    topic = topics.both(unique("mir-compact"), 2, src_config=cfg, tgt_config=cfg)
    map_topic = unique("mir-map")
    topics.track("target", map_topic)
    recs = []
    for i in range(200):
        key = ("key-%d" % (i % 20)).encode()
        value = None if i % 5 == 4 else ("v%d" % i).encode()
        recs.append((i % 2, key, value, [("seq", str(i).encode())], recent_ms() + i))
    produce(clusters, topic, recs)
    res = run_core(clusters, map_topic, topics=[topic], name=unique("n"))
    assert res["records"] == 200
    src, tgt = assert_exact_copy(clusters, topic, 2, map_topic)
    tombstones = [r for p in tgt for r in tgt[p] if r[2] is None]
    assert len(tombstones) == 40


def test_sixty_partitions(clusters, topics, unique):
    topic = topics.both(unique("mir-sixty"), 60)
    map_topic = unique("mir-map")
    topics.track("target", map_topic)
    produce(clusters, topic, make_records(60, 10, seed=5))
    res = run_core(clusters, map_topic, topics=[topic], name=unique("n"), batch_records=200)
    assert res["records"] == 600 and len(res["partitions"]) == 60
    assert_exact_copy(clusters, topic, 60, map_topic)


def test_validation_fails_before_changing_anything(clusters, topics, unique):
    topic = unique("mir-val")
    topics.create("source", topic, 4, 1)
    topics.create("target", topic, 2, 1)
    missing = unique("mir-nosuch")
    topics.create("source", missing, 1, 1)
    map_topic = unique("mir-map")
    with pytest.raises(KafkaOpsError) as err:
        run_core(clusters, map_topic, topics=[topic, missing], name=unique("n"))
    assert "2 partitions on the target, fewer than the 4" in err.value.msg
    assert "%s is missing on the target" % missing in err.value.msg
    with pytest.raises(KafkaOpsError) as err:
        run_core(clusters, map_topic, topics=[unique("mir-absent")], name=unique("n"))
    assert "topics not found on the source" in err.value.msg
    md = AdminClient(clusters.librdkafka("target")).list_topics(timeout=10)
    assert map_topic not in md.topics


def test_follow_while_producers_write_then_snapshot_catches_up(clusters, topics, unique):
    topic = topics.both(unique("mir-live"), 3)
    map_topic = unique("mir-map")
    topics.track("target", map_topic)
    stop = threading.Event()
    sent = []

    def writer():
        p = Producer(dict(clusters.librdkafka("source"), **{"linger.ms": 5}))
        i = 0
        while not stop.is_set():
            p.produce(topic, b"live-%d" % i, b"k%d" % (i % 13), partition=i % 3, headers=[("i", b"%d" % i)])
            i += 1
            if i % 50 == 0:
                p.poll(0)
                time.sleep(0.01)
        assert p.flush(30) == 0
        sent.append(i)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        name = unique("n")
        follow = run_core(clusters, map_topic, topics=[topic], name=name, mode="follow", duration=3,
                          batch_seconds=0.5)
    finally:
        stop.set()
        thread.join(60)
    assert follow["records"] > 0 and follow["transactions"] >= 2
    final = run_core(clusters, map_topic, topics=[topic], name=name)
    assert follow["records"] + final["records"] == sent[0]
    src, tgt = assert_exact_copy(clusters, topic, 3, map_topic)
    assert sum(len(v) for v in tgt.values()) == sent[0]


def test_log_append_time_topics(clusters, topics, unique):
    """Source LogAppendTime: the broker's time is copied as a CreateTime value. Target LogAppendTime: warned."""
    src_lat = topics.both(unique("mir-lat-src"), 1, src_config={"message.timestamp.type": "LogAppendTime"})
    tgt_lat = topics.both(unique("mir-lat-tgt"), 1, tgt_config={"message.timestamp.type": "LogAppendTime"})
    map_topic = unique("mir-map")
    topics.track("target", map_topic)
    produce(clusters, src_lat, make_records(1, 20, seed=13))
    produce(clusters, tgt_lat, make_records(1, 20, seed=14))
    res = run_core(clusters, map_topic, topics=[src_lat, tgt_lat], name=unique("n"))
    assert res["records"] == 40
    assert any("%s uses LogAppendTime: its timestamps are copied" % src_lat in w for w in res["warnings"])
    assert any("target topic %s uses LogAppendTime" % tgt_lat in w for w in res["warnings"])
    assert_exact_copy(clusters, src_lat, 1, map_topic)  # same timestamp values, now CreateTime
    tgt = read_side(clusters, "target", tgt_lat, 1)[0]
    src = read_side(clusters, "source", tgt_lat, 1)[0]
    assert [r[1:4] for r in tgt] == [r[1:4] for r in src]  # keys, values, headers kept
    assert all(t[4] > s[4] for s, t in zip(src, tgt))  # the target broker stamped its own time


def test_record_too_large_for_the_target_fails_clearly_and_commits_nothing(clusters, topics, unique):
    topic = topics.both(unique("mir-big"), 1, src_config={"max.message.bytes": "3000000"})
    map_topic = unique("mir-map")
    topics.track("target", map_topic)
    p = Producer(dict(clusters.librdkafka("source"), **{"message.max.bytes": 3000000}))
    p.produce(topic, b"small", b"k", partition=0)
    p.produce(topic, b"x" * 2000000, b"big", partition=0)
    assert p.flush(30) == 0
    with pytest.raises(KafkaOpsError) as err:
        run_core(clusters, map_topic, topics=[topic], name=unique("n"))
    assert "MSG_SIZE_TOO_LARGE" in err.value.msg and "%s:0@1" % topic in err.value.msg
    assert err.value.details["records"] == 0 and err.value.details["status"] == "failed"
    assert read_side(clusters, "target", topic, 1) == {0: []}


def _cli_config(clusters, tmp_path, **kw):
    conf = dict(source=clusters.source, target=clusters.target, timeout=300, **kw)
    path = tmp_path / ("cli-%d.json" % random.randint(0, 1 << 30))
    path.write_text(json.dumps(conf))
    return str(path)


def _cli(path):
    code = ("import sys; from ansible_collections.kafkaops.migration.plugins.module_utils.mirror import cli_main; "
            "sys.exit(cli_main())")
    env = dict(os.environ, PYTHONPATH=collections_root())
    return subprocess.Popen([sys.executable, "-c", code, path], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_sigkill_at_random_moments_resumes_without_gap_or_duplicate(clusters, topics, unique, tmp_path):
    topic = topics.both(unique("mir-kill"), 4)
    map_topic = unique("mir-map")
    topics.track("target", map_topic)
    produce(clusters, topic, make_records(4, 5000, seed=6))
    name = unique("n")
    progress = tmp_path / "progress.json"
    conf = _cli_config(clusters, tmp_path, topics=[topic], name=name, offset_map_topic=map_topic,
                       batch_records=300, progress_file=str(progress))
    rnd = random.Random()
    kills = 0
    copied_before_kill = []
    for attempt in range(8):
        proc = _cli(conf)
        # Wait until this run is copying (its progress file says running with records), then kill it
        # a random moment later: inside a transaction, during flush, commit or between batches.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                state = json.loads(progress.read_text())
            except (OSError, ValueError):
                state = {}
            if state.get("status") == "running" and state.get("records", 0) > 0:
                break
            time.sleep(0.02)
        time.sleep(rnd.uniform(0.0, 0.4))
        if proc.poll() is not None:
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        copied_before_kill.append(json.loads(progress.read_text()).get("records"))
        progress.unlink()
        if kills == 3:
            break
    assert kills >= 2, "the copier finished before it could be killed"
    proc = _cli(conf)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err + out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["status"] == "done"
    # Every kill came after a committed batch: the last run resumed mid-way, it did not start over.
    assert all(n > 0 for n in copied_before_kill)
    assert any(p["resumed"] and p["start"] > 0 for p in result["partitions"])
    assert result["records"] < 20000
    src, tgt = assert_exact_copy(clusters, topic, 4, map_topic)
    assert sum(len(v) for v in tgt.values()) == 20000
    # The target holds aborted leftovers of the killed runs (invisible read_committed) and the map
    # has no overlap: load_from_topic would refuse overlapping runs.
    final = json.loads(_cli_and_wait(_cli_config(clusters, tmp_path, topics=[topic], name=name,
                                                 offset_map_topic=map_topic)))
    assert final["records"] == 0 and final["changed"] is False


def _cli_and_wait(conf):
    proc = _cli(conf)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err + out
    return out.strip().splitlines()[-1]


def test_restarted_copier_fences_the_old_one(clusters, topics, unique):
    """Two copiers with one name: the newer one fences the older, whose commit then fails."""
    topic = topics.both(unique("mir-fence"), 1)
    map_topic = unique("mir-map")
    topics.track("target", map_topic)
    produce(clusters, topic, make_records(1, 100, seed=7))
    name = unique("n")
    p = mirror.params_with_defaults(dict(offset_map_topic=map_topic, topics=[topic], name=name))
    src, tgt = Cluster(clusters.source, "source"), Cluster(clusters.target, "target")
    old = mirror.Copier(src, tgt, p, mirror.plan_copy(src, tgt, p))
    old._start()
    old._begin()
    old._producer.produce(topic, b"zombie", b"zombie", partition=0)
    new = mirror.run_mirror(p, Cluster(clusters.source, "source"), Cluster(clusters.target, "target"))
    assert new["records"] == 100
    with pytest.raises(KafkaOpsError) as err:
        old._commit(1, 6)
    assert "FENCED" in err.value.msg.upper()
    old._close()
    tgt_records = read_side(clusters, "target", topic, 1)
    assert all(r[1] != b"zombie" for r in tgt_records[0])
    assert_exact_copy(clusters, topic, 1, map_topic)


class _IntrudingProducer:
    """Forwards to the copier's producer; after the 5th record, another producer writes to the target
    partition, so the copier's run of records is not contiguous there."""

    def __init__(self, real, clusters, topic):
        self.real = real
        self.clusters = clusters
        self.topic = topic
        self.calls = 0

    def produce(self, topic, *args, **kwargs):
        self.real.produce(topic, *args, **kwargs)
        if topic == self.topic:
            self.calls += 1
            if self.calls == 5:
                assert self.real.flush(30) == 0
                other = Producer(self.clusters.librdkafka("target"))
                other.produce(self.topic, b"foreign", b"foreign", partition=0)
                assert other.flush(30) == 0

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_foreign_writer_inside_a_run_rolls_back_and_redoes_the_batch(clusters, topics, unique):
    topic = topics.both(unique("mir-foreign"), 1)
    map_topic = unique("mir-map")
    topics.track("target", map_topic)
    produce(clusters, topic, make_records(1, 50, seed=12))
    p = mirror.params_with_defaults(dict(offset_map_topic=map_topic, topics=[topic], name=unique("n")))
    src, tgt = Cluster(clusters.source, "source"), Cluster(clusters.target, "target")
    cp = mirror.Copier(src, tgt, p, mirror.plan_copy(src, tgt, p))
    cp._start()
    cp._producer = _IntrudingProducer(cp._producer, clusters, topic)
    cp._loop()
    cp._close()
    res = cp.result()
    assert res["rollbacks"] == 1 and res["records"] == 50
    assert any("another producer" in w for w in res["warnings"])
    source = read_side(clusters, "source", topic, 1)[0]
    target = [r for r in read_side(clusters, "target", topic, 1)[0] if r[1] != b"foreign"]
    assert strip(target) == strip(source)
    omap = load_from_topic(tgt, map_topic)
    for s, t in zip(source, target):
        assert omap.translate(topic, 0, s[0]) == (t[0], "mapped")


# -- the module ------------------------------------------------------------------------------------
def test_module_check_mode_changes_nothing_then_copies(clusters, topics, unique, tmp_path):
    topic = topics.both(unique("mir-mod"), 2)
    map_topic = unique("mir-map")
    topics.track("target", map_topic)
    produce(clusters, topic, make_records(2, 40, seed=8))
    progress = tmp_path / "progress.json"
    args = params(clusters, map_topic, topics=[topic], name=unique("n"), progress_file=str(progress))
    check = run_module(kafka_mirror, args, check_mode=True, diff=True)
    assert not progress.exists()
    assert check["changed"] is True and check["records"] == 80 and check["partitions_to_copy"] == 2
    assert check["diff"]["after"]["%s:0" % topic] == 40
    md = AdminClient(clusters.librdkafka("target")).list_topics(timeout=10)
    assert map_topic not in md.topics
    assert read_side(clusters, "target", topic, 2) == {0: [], 1: []}
    real = run_module(kafka_mirror, args, diff=True)
    assert real["changed"] is True and real["records"] == 80
    assert real["diff"]["before"]["%s:1" % topic] == 0 and real["diff"]["after"]["%s:1" % topic] == 40
    again = run_module(kafka_mirror, args)
    assert again["changed"] is False and again["records"] == 0
    check_again = run_module(kafka_mirror, args, check_mode=True)
    assert check_again["changed"] is False and check_again["records"] == 0
    assert_exact_copy(clusters, topic, 2, map_topic)


def test_module_until_lag_and_follow(clusters, topics, unique, tmp_path):
    topic = topics.both(unique("mir-lag"), 2)
    map_topic = unique("mir-map")
    topics.track("target", map_topic)
    produce(clusters, topic, make_records(2, 100, seed=9))
    name = unique("n")
    res = run_module(kafka_mirror, params(clusters, map_topic, topics=[topic], name=name, mode="until_lag",
                                          max_lag=0, interval=0.5))
    assert res["records"] == 200 and res["lag"] == 0
    progress = tmp_path / "p.json"
    produce(clusters, topic, make_records(2, 10, seed=10, start_ts=recent_ms(0.5)))
    res = run_module(kafka_mirror, params(clusters, map_topic, topics=[topic], name=name, mode="follow",
                                          duration=3, progress_file=str(progress)))
    assert res["records"] == 20 and 2.5 <= res["duration"] < 15
    assert json.loads(progress.read_text())["records"] == 20
    assert_exact_copy(clusters, topic, 2, map_topic)


def test_module_fails_clearly(clusters, topics, unique):
    topic = unique("mir-modfail")
    topics.create("source", topic, 1, 1)
    map_topic = unique("mir-map")
    with pytest.raises(FailJson) as err:
        run_module(kafka_mirror, params(clusters, map_topic, topics=[topic]))
    assert "missing on the target" in err.value.result["msg"]
    with pytest.raises(FailJson) as err:
        run_module(kafka_mirror, params(clusters, map_topic, topics=[topic], name="bad name!"))
    assert "name must be" in err.value.result["msg"]
    with pytest.raises(FailJson) as err:
        run_module(kafka_mirror, params(clusters, map_topic))
    assert "nothing is selected" in err.value.result["msg"]
    with pytest.raises(FailJson) as err:
        run_module(kafka_mirror, params(clusters, map_topic, topics=[topic], mode="follow", duration=60, timeout=30))
    assert "duration (60.0s) must be shorter than timeout (30s)" in err.value.result["msg"]
    bad = dict(clusters.target, bootstrap_servers=["127.0.0.1:1"], request_timeout=3)
    t0 = time.monotonic()
    with pytest.raises(FailJson) as err:
        run_module(kafka_mirror, dict(params(clusters, map_topic, topics=[topic]), target=bad, timeout=8))
    assert time.monotonic() - t0 < 15
    assert "target cluster" in err.value.result["msg"]
    assert "admin-secret" not in json.dumps(err.value.result)


def test_playbook(clusters, topics, unique, tmp_path):
    topic = topics.both(unique("mir-play"), 2)
    map_topic = unique("mir-map")
    topics.track("target", map_topic)
    produce(clusters, topic, make_records(2, 25, seed=11))
    extra = {"kafka_source": clusters.source, "kafka_target": clusters.target, "kafka_mirror_topic": topic,
             "kafka_mirror_map_topic": map_topic, "kafka_mirror_name": unique("n"), "kafka_mirror_expected": 50,
             "kafka_mirror_progress_file": str(tmp_path / "progress.json")}
    rc, out = run_playbook(os.path.join(HERE, "targets", "kafka_mirror", "playbook.yml"), extra)
    assert rc == 0, out
    assert "failed=0" in out
    assert_exact_copy(clusters, topic, 2, map_topic)
