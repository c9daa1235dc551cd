"""Each module run as a task through a real ansible-playbook: what Ansible reports is what the module did.

Ansible gives some result keys a meaning of its own: a non-empty ``skipped`` makes the task "skipped"
(``skipping:``, not counted as changed, ``is changed`` false, handlers not notified) whatever
``changed`` says; ``results`` is a loop's list, ``rc``/``stdout``/``stderr`` a command's, ``item`` a
loop item, ``ansible_*`` facts and ``_ansible_*`` internals. So every module is run here as the task of
a play, against the real clusters, once where it changes something and once where it does not (where
the module can change anything), and the test checks that

* the task's status line and the PLAY RECAP (changed/ok/skipped/failed) agree with the module's own
  ``changed`` / ``failed``, and
* the registered result has none of those keys with another meaning, and no secret.

The registered result is written to a JSON file by a ``copy`` task (``changed_when: false``), so the
recap always holds that one extra ``ok``.
"""

import json
import re
import threading

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from ansible_collections.kafkaops.migration.plugins.modules import kafka_mirror, kafka_spec_facts
from tests.utils.playbook import run_module_task
from tests.utils.wait import (
    wait_committed,
    wait_group_members,
    wait_topics_on_every_broker,
)

pytestmark = pytest.mark.kafka

# Keys only Ansible may set (or that mean something else to Ansible than a module's own data).
FORBIDDEN = ("skipped", "results", "rc", "stdout", "stdout_lines", "stderr", "stderr_lines", "item")


def assert_reported_as_done(run):
    """Status line and recap agree with the module's own ``changed`` / ``failed``."""
    res = run.result
    failed = res.get("failed") is True
    changed = res.get("changed") is True
    want = "fatal" if failed else ("changed" if changed else "ok")
    assert run.status == want, "module said changed=%r failed=%r, Ansible printed %r:\n%s" % (
        res.get("changed"), res.get("failed"), run.status, run.output)
    # ok counts the module task (also when its failure is ignored) plus the copy task.
    expected = {"ok": 2, "changed": int(changed), "skipped": 0, "failed": 0, "ignored": int(failed)}
    got = {k: run.recap.get(k) for k in expected}
    assert got == expected, "recap %s disagrees with the module's changed=%r failed=%r:\n%s" % (
        run.recap, res.get("changed"), res.get("failed"), run.output)
    assert run.rc == 0, run.output


def assert_no_reserved_keys(res):
    """No key Ansible reserves with another meaning; nothing secret."""
    misused = [k for k in FORBIDDEN if k in res]
    misused += [k for k in res if k.startswith("ansible_") or k.startswith("_ansible_")]
    assert not misused, "result keys reserved by Ansible: %s (result: %s)" % (misused, _short(res))
    assert isinstance(res.get("changed"), bool), res.get("changed")
    assert isinstance(res.get("failed", False), bool), res.get("failed")
    if "msg" in res:
        assert isinstance(res["msg"], str), "msg must be text: %r" % (res["msg"],)
    for key in ("warnings", "deprecations"):
        if key in res:
            assert isinstance(res[key], list), "%s must be a list: %r" % (key, res[key])
            # Ansible's own deprecations are dicts with a msg; a module's warnings are text.
            assert all(isinstance(w, str) or (isinstance(w, dict) and isinstance(w.get("msg"), str))
                       for w in res[key]), "%s must be text: %r" % (key, res[key])
    if "exception" in res:  # Ansible's own on a failure: a traceback text ("(traceback unavailable)")
        assert res.get("failed") is True and isinstance(res["exception"], str), res["exception"]
    if "invocation" in res:  # Ansible's own: the module arguments, secrets masked
        assert set(res["invocation"]) == {"module_args"}, res["invocation"]
    assert "admin-secret" not in json.dumps(res), "the SASL password is in the result"


def check(run):
    assert_reported_as_done(run)
    assert_no_reserved_keys(run.result)
    return run.result


def _short(res, limit=600):
    text = json.dumps(res, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


def _option(module, *names):
    """The first of ``names`` the module's argument spec has (selection options are being renamed to
    ``include``; the old names stay as aliases)."""
    spec = module.argument_spec()
    for name in names:
        if name in spec:
            return name
    raise AssertionError("%s has none of the options %s" % (module.__name__, names))


class Kafka:
    """Admin clients on both clusters; topics and groups made here are deleted at teardown."""

    def __init__(self, clusters):
        self.clusters = clusters
        self.admin = {side: AdminClient(clusters.librdkafka(side)) for side in ("source", "target")}
        self.topics = {"source": [], "target": []}
        self.groups = {"source": [], "target": []}

    def create(self, side, name, partitions, rf=2):
        self.admin[side].create_topics([NewTopic(name, partitions, rf)])[name].result(30)
        self.topics[side].append(name)
        wait_topics_on_every_broker(self.clusters.librdkafka(side), name, partitions)
        return name

    def track(self, side, name):
        self.topics[side].append(name)

    def produce(self, side, topic, per_partition, partitions):
        p = Producer(dict(self.clusters.librdkafka(side), **{"enable.idempotence": True}))
        for i in range(per_partition):
            for part in range(partitions):
                p.produce(topic, b"v%d" % i, b"k%d" % i, partition=part)
        assert p.flush(30) == 0  # acks=all: the high watermark includes every record

    def commit(self, side, group, offsets):
        """Commit ``{(topic, partition): offset}`` for ``group`` (no member) and wait until it is read back."""
        req = ConsumerGroupTopicPartitions(group, [TopicPartition(t, p, o) for (t, p), o in offsets.items()])
        list(self.admin[side].alter_consumer_group_offsets([req]).values())[0].result(30)
        self.groups[side].append(group)
        wait_committed(self.admin[side], group, offsets)

    def cleanup(self):
        for side in ("source", "target"):
            if self.groups[side]:
                for fut in self.admin[side].delete_consumer_groups(list(set(self.groups[side])), request_timeout=20).values():
                    try:
                        fut.result(30)
                    except Exception:
                        pass
            if self.topics[side]:
                for fut in self.admin[side].delete_topics(list(set(self.topics[side])), operation_timeout=20).values():
                    try:
                        fut.result(30)
                    except Exception:
                        pass


@pytest.fixture
def kafka(clusters):
    k = Kafka(clusters)
    yield k
    k.cleanup()


class ActiveMember:
    """A real consumer in ``group`` on the target, polling in a thread until stopped; started only once
    the group is Stable with it as a member."""

    def __init__(self, clusters, kafka, group, topic):
        conf = dict(clusters.librdkafka("target"))
        conf.update({"group.id": group, "enable.auto.commit": False, "auto.offset.reset": "latest",
                     "session.timeout.ms": 30000})
        self.consumer = Consumer(conf)
        self.consumer.subscribe([topic])
        kafka.groups["target"].append(group)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        wait_group_members(kafka.admin["target"], group, 1)

    def _run(self):
        while not self.stop.is_set():
            self.consumer.poll(0.2)

    def close(self):
        self.stop.set()
        self.thread.join(30)
        self.consumer.close()


# -- the five modules ------------------------------------------------------------------------------
def test_spec_facts_is_ok_never_changed(clusters, kafka, unique, tmp_path):
    topic = kafka.create("source", unique("recap-spec"), 2)
    kafka.produce("source", topic, 5, 2)
    args = {"source": clusters.source, "target": clusters.target, "sample_window": 0, "groups": False,
            "measure_size": False, _option(kafka_spec_facts, "include", "topics"): [re.escape(topic)]}
    res = check(run_module_task("kafka_spec_facts", args, tmp_path))
    assert res["changed"] is False
    assert [t["name"] for t in res["spec"]["topics"] if not t["internal"]] == [topic]


def test_topic_sync_changed_then_ok(clusters, kafka, unique, tmp_path):
    topic = kafka.create("source", unique("recap-topic"), 3)
    kafka.track("target", topic)
    args = {"source": clusters.source, "target": clusters.target, "include": [re.escape(topic)]}
    planned = check(run_module_task("kafka_topic_sync", args, tmp_path, check=True, diff=True))
    assert planned["changed"] is True and planned["created"] == [topic]
    first = check(run_module_task("kafka_topic_sync", args, tmp_path))
    assert first["changed"] is True
    # The second run asks whichever target broker it reaches: wait until all of them know the topic.
    wait_topics_on_every_broker(clusters.librdkafka("target"), topic, 3)
    again = check(run_module_task("kafka_topic_sync", args, tmp_path))
    assert again["changed"] is False


def test_topic_sync_partial_failure_is_failed_and_changed(clusters, kafka, unique, tmp_path):
    """A failed task that changed something: Ansible prints fatal, counts it changed (and ignored here)."""
    good, legacy = unique("recap-good"), unique("recap-legacy")
    kafka.create("source", good, 1)
    kafka.admin["source"].create_topics([NewTopic(legacy, 1, 2, config={"message.format.version": "2.8"})])[legacy].result(30)
    kafka.track("source", legacy)
    wait_topics_on_every_broker(clusters.librdkafka("source"), legacy, 1)
    kafka.track("target", good)
    kafka.track("target", legacy)
    # an empty deny-list copies message.format.version, which the Kafka 4 target refuses
    args = {"source": clusters.source, "target": clusters.target, "include": [re.escape(good), re.escape(legacy)],
            "deny_configs": []}
    res = check(run_module_task("kafka_topic_sync", args, tmp_path, ignore_errors=True))
    assert res["failed"] is True and res["changed"] is True
    assert res["created"] == [good] and list(res["failed_topics"]) == [legacy]


def test_group_sync_changed_then_ok(clusters, kafka, unique, tmp_path):
    topic = unique("recap-grp")
    kafka.create("source", topic, 3)
    kafka.create("target", topic, 3)
    group = unique("recap-g")
    kafka.commit("source", group, {(topic, p): 1 for p in range(3)})
    kafka.groups["target"].append(group)
    args = {"source": clusters.source, "target": clusters.target, "policy": "earliest",
            "groups": [{"name": group}]}
    first = check(run_module_task("kafka_group_sync", args, tmp_path))
    assert first["changed"] is True
    wait_committed(kafka.admin["target"], group, {(topic, p): 0 for p in range(3)})
    again = check(run_module_task("kafka_group_sync", args, tmp_path))
    assert again["changed"] is False


def test_group_sync_with_one_active_group_is_changed_not_skipped(clusters, kafka, unique, tmp_path):
    """The case that broke: one group active on the target, another changed. Ansible must print
    ``changed:`` and count changed=1; the active group is reported under a key of the module's own."""
    topic = unique("recap-act")
    kafka.create("source", topic, 2)
    kafka.create("target", topic, 2)
    active, idle = unique("recap-active"), unique("recap-idle")
    kafka.commit("source", active, {(topic, 0): 1, (topic, 1): 1})
    kafka.commit("source", idle, {(topic, 0): 1, (topic, 1): 1})
    kafka.groups["target"].append(idle)
    member = ActiveMember(clusters, kafka, active, topic)
    try:
        args = {"source": clusters.source, "target": clusters.target, "policy": "earliest",
                "groups": [{"name": active, "topics": [topic]}, {"name": idle}]}
        run = run_module_task("kafka_group_sync", args, tmp_path)
        res = check(run)
        assert res["changed"] is True
        assert "skipping:" not in run.output
        assert res.get("active_groups") == [active], _short(res)
        status = {g["name"]: g["status"] for g in res["groups"]}
        assert status[idle] == "changed" and status[active] != "changed", status
    finally:
        member.close()
    # Nothing was committed for the active group on the target; the idle one starts at the log start.
    wait_committed(kafka.admin["target"], idle, {(topic, 0): 0, (topic, 1): 0})
    seen = list(kafka.admin["target"].list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(active, [TopicPartition(topic, 0), TopicPartition(topic, 1)])]).values())[0].result(15)
    assert all(tp.offset < 0 for tp in seen.topic_partitions), seen.topic_partitions


def test_mirror_changed_then_ok(clusters, kafka, unique, tmp_path):
    topic = unique("recap-mir")
    kafka.create("source", topic, 2)
    kafka.create("target", topic, 2)
    map_topic = unique("recap-map")
    kafka.track("target", map_topic)
    kafka.produce("source", topic, 10, 2)
    select = _option(kafka_mirror, "topics", "include")
    args = {"source": clusters.source, "target": clusters.target, "name": unique("recap-n"),
            "offset_map_topic": map_topic, "timeout": 120,
            select: [topic] if select == "topics" else [re.escape(topic)]}
    first = check(run_module_task("kafka_mirror", args, tmp_path))
    assert first["changed"] is True and first["records"] == 20
    again = check(run_module_task("kafka_mirror", args, tmp_path))
    assert again["changed"] is False and again["records"] == 0


def test_lag_wait_ok_when_drained_and_failed_when_not(clusters, kafka, unique, tmp_path):
    topic = kafka.create("source", unique("recap-lag"), 2)
    kafka.produce("source", topic, 5, 2)
    drained, lagging = unique("recap-drained"), unique("recap-lagging")
    kafka.commit("source", drained, {(topic, 0): 5, (topic, 1): 5})
    kafka.commit("source", lagging, {(topic, 0): 0, (topic, 1): 5})
    base = {"cluster": clusters.source, "topics": [topic], "interval": 0.5}
    ok = check(run_module_task("kafka_lag_wait", dict(base, groups=[drained], timeout=60), tmp_path))
    assert ok["changed"] is False
    failed = check(run_module_task("kafka_lag_wait", dict(base, groups=[lagging], timeout=3), tmp_path,
                                   ignore_errors=True))
    assert failed["failed"] is True and failed["changed"] is False
