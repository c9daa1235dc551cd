"""kafka_mirror's MirrorMaker 2 engine against the real clusters and a real Kafka Connect worker.

The worker (connect-runtime + connect-mirror from Maven Central, ``tests/harness/connect_harness.py``)
starts once for this file, writes to the target cluster over SASL/SCRAM and has exactly-once source
support enabled. ``KAFKAOPS_CONNECT_URL`` reuses a running worker instead (``connect_harness.py up``).
Every test uses its own topics and connector prefix and removes them at the end.
"""

import json
import os
import socket
import time
import urllib.request

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import connect_harness
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import Cluster, KafkaOpsError
from ansible_collections.kafkaops.migration.plugins.module_utils.mm2 import run_mirrormaker2
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline
from tests.utils.wait import wait_topics_on_every_broker, wait_until

pytestmark = pytest.mark.kafka


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def connect(clusters, tmp_path_factory):
    """URL of a Connect worker writing to the target cluster (started for this module unless given)."""
    url = os.environ.get("KAFKAOPS_CONNECT_URL")
    if url and connect_harness.worker_alive(url):
        yield url.rstrip("/")
        return
    port = connect_harness.DEFAULT_PORT
    if connect_harness.kafka_harness._port_open(port):
        port = _free_port()
    worker = connect_harness.ConnectWorker(clusters["target"], workdir=str(tmp_path_factory.mktemp("connect")), port=port)
    worker.start()
    try:
        yield worker.url
    finally:
        worker.stop()


class Env:
    """Topics and connectors of one test; everything it created is removed at teardown."""

    def __init__(self, clusters, connect, unique):
        self.clusters = clusters
        self.url = connect
        self.prefix = unique("mm2t")
        self.admins = {n: AdminClient(clusters.librdkafka(n)) for n in ("source", "target")}
        self.topics = {"source": [], "target": []}

    def params(self, topics, **mm2):
        opts = {"connect_url": self.url, "connector_prefix": self.prefix, "groups": [self.prefix + ".*"]}
        opts.update(mm2)
        return {"topics": list(topics), "interval": 1.0, "mirrormaker2": opts}

    def run(self, params, check_mode=False, timeout=90, source=None, target=None):
        deadline = Deadline(timeout)
        src = Cluster(source or self.clusters.source, "source", deadline)
        tgt = Cluster(target or self.clusters.target, "target", deadline)
        return run_mirrormaker2(params, src, tgt, deadline, check_mode=check_mode)

    def create_source_topic(self, name, partitions):
        self.admins["source"].create_topics([NewTopic(name, partitions, 2)])[name].result(30)
        self.topics["source"].append(name)
        self.topics["target"].append(name)  # MirrorSourceConnector creates it on the target
        # Producers with an explicit partition fail on a topic whose partitions they do not know yet;
        # the worker's consumers may ask any broker.
        wait_topics_on_every_broker(self.clusters.librdkafka("source"), name, partitions)
        return name

    def wait_connector_offsets(self, topic, partitions, next_offset):
        """Wait until the source connector's committed offsets (GET .../offsets, the worker reads them
        back from its offsets topic after the records' transaction) say ``next_offset`` everywhere."""
        url = "%s/connectors/%s-source/offsets" % (self.url, self.prefix)

        def probe():
            with urllib.request.urlopen(url, timeout=10) as resp:
                data = json.loads(resp.read().decode())
            return dict((int(e["partition"]["partition"]), int(e["offset"]["offset"]) + 1)
                        for e in data.get("offsets") or [] if e["partition"].get("topic") == topic)

        wait_until("connector %s-source offsets at %d on %s" % (self.prefix, next_offset, topic), probe,
                   lambda seen: seen == dict((p, next_offset) for p in range(partitions)), timeout=60,
                   retry_on=(OSError, ValueError, KeyError))

    def connectors(self):
        with urllib.request.urlopen(self.url + "/connectors?expand=info", timeout=10) as resp:
            data = json.loads(resp.read().decode())
        return dict((n, c["info"]["config"]) for n, c in data.items() if n.startswith(self.prefix + "-"))

    def cleanup(self):
        for name in list(self.connectors()):
            req = urllib.request.Request(self.url + "/connectors/" + name, method="DELETE")
            urllib.request.urlopen(req, timeout=10).close()
        for side, names in self.topics.items():
            if names:
                for fut in self.admins[side].delete_topics(names, request_timeout=15).values():
                    try:
                        fut.result(20)
                    except Exception:  # noqa: BLE001 - not created (e.g. check mode only)
                        pass


@pytest.fixture
def env(clusters, connect, unique):
    e = Env(clusters, connect, unique)
    try:
        yield e
    finally:
        e.cleanup()


def produce(clusters, topic, partitions, per_partition):
    """Keyed records with headers and explicit timestamps; returns them by partition, in order."""
    p = Producer(dict(clusters.librdkafka("source"), **{"enable.idempotence": True, "acks": "all"}))
    sent = dict((i, []) for i in range(partitions))
    errors = []

    def report(err, msg):
        if err is not None:
            errors.append("%s[%s]: %s" % (msg.topic(), msg.partition(), err))

    base = (int(time.time()) - 3600) * 1000  # recent: older records fall to time retention mid-test
    for n in range(per_partition):
        for part in range(partitions):
            key = None if n == 3 else b"k-%d-%d" % (part, n)
            value = None if n == 4 else b"v-%d-%d" % (part, n) * (1 + n % 3)
            headers = [("h", b"%d" % n), ("h", b"again")] if n % 2 else None
            ts = base + part * 1000 + n
            p.produce(topic, key=key, value=value, partition=part, headers=headers, timestamp=ts, on_delivery=report)
            sent[part].append((key, value, headers or [], ts))
    assert p.flush(30) == 0
    assert not errors, errors[:3]
    return sent


def read_target(clusters, topic, partitions, expected, timeout=60, env=None):
    """Records of the target topic by partition (read_committed), once ``expected`` per partition arrived.

    When they do not all arrive, fail with what can explain it: per partition the records read, the
    target's watermarks, and the source offsets the connector committed.
    """
    conf = dict(clusters.librdkafka("target"))
    conf.update({"group.id": "mm2-test-reader", "enable.auto.commit": False,
                 "isolation.level": "read_committed", "auto.offset.reset": "earliest"})
    c = Consumer(conf)
    got = dict((i, []) for i in range(partitions))
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            md = c.list_topics(topic, timeout=5).topics.get(topic)
            if md is not None and md.error is None and len(md.partitions) == partitions:
                break
            time.sleep(0.5)
        c.assign([TopicPartition(topic, i, 0) for i in range(partitions)])
        while time.monotonic() < end and any(len(got[i]) < expected for i in got):
            msg = c.poll(0.5)
            if msg is None or msg.error():
                continue
            got[msg.partition()].append((msg.key(), msg.value(), msg.headers() or [], msg.timestamp()[1]))
        if any(len(got[i]) < expected for i in got):
            marks = dict((i, c.get_watermark_offsets(TopicPartition(topic, i), timeout=5)) for i in got)
            committed = None
            if env is not None:
                url = "%s/connectors/%s-source/offsets" % (env.url, env.prefix)
                with urllib.request.urlopen(url, timeout=10) as resp:
                    committed = json.loads(resp.read().decode())
            raise AssertionError("after %ss: read %s, expected %d each; target watermarks %s; connector offsets %s"
                                 % (timeout, dict((i, len(v)) for i, v in got.items()), expected, marks, committed))
    finally:
        c.close()
    return got


def assert_same(got, expected):
    """Per partition, the target holds exactly the expected records in order (says where it differs)."""
    for part in sorted(expected):
        have, want = got[part], expected[part]
        first = next((i for i, (a, b) in enumerate(zip(have, want)) if a != b), min(len(have), len(want)))
        assert have == want, "partition %d: %d records, expected %d; first difference at %d: %r != %r" % (
            part, len(have), len(want), first, have[first:first + 2], want[first:first + 2])


# -- the whole life cycle ---------------------------------------------------------------------------
def test_check_deploy_copy_idempotence_update_and_removal(clusters, env):
    topic = env.create_source_topic(env.prefix + "-orders", 3)
    sent = produce(clusters, topic, 3, 12)
    params = env.params([topic])

    # Check mode: reports the creation and its diff, deploys nothing.
    res = env.run(params, check_mode=True)
    assert res["changed"] is True
    assert sorted(res["diff"]["after"]) == [env.prefix + "-checkpoint", env.prefix + "-source"]
    assert {c["action"] for c in res["connectors"].values()} == {"create"}
    assert env.connectors() == {}

    # Real run: connectors RUNNING with exactly-once, the data arrives with the same topic and partitions.
    res = env.run(params)
    assert res["changed"] is True and res["exactly_once"] is True
    src = res["connectors"][env.prefix + "-source"]
    assert src["state"] == "RUNNING" and src["tasks"] and all(t["state"] == "RUNNING" for t in src["tasks"])
    assert res["connectors"][env.prefix + "-checkpoint"]["state"] == "RUNNING"
    deployed = env.connectors()
    assert deployed[env.prefix + "-source"]["exactly.once.support"] == "required"
    assert deployed[env.prefix + "-source"]["replication.policy.class"].endswith("IdentityReplicationPolicy")
    got = read_target(clusters, topic, 3, 12, env=env)
    assert_same(got, sent)
    assert res["lag"] is not None and sorted({(r["topic"], r["partition"]) for r in res["lag"]["partitions"]}) == \
        [(topic, 0), (topic, 1), (topic, 2)]

    # Second run: nothing to change; the lag is measured from the committed offsets.
    env.wait_connector_offsets(topic, 3, 12)
    res = env.run(params)
    assert res["changed"] is False and res["diff"] == {"before": {}, "after": {}}
    assert res["lag"]["total"] == 0
    assert all(r["next_offset"] == 12 for r in res["lag"]["partitions"])

    # A config change shows in the diff (check mode first: nothing changes), then applies.
    changed = env.params([topic], tasks_max=2)
    res = env.run(changed, check_mode=True)
    name = env.prefix + "-source"
    assert res["changed"] is True and res["connectors"][name]["action"] == "update"
    assert res["diff"]["before"][name]["tasks.max"] == "4" and res["diff"]["after"][name]["tasks.max"] == "2"
    assert env.connectors()[name]["tasks.max"] == "4"
    assert res["lag"]["total"] == 0  # measured in check mode too (read only)
    res = env.run(changed)
    assert res["changed"] is True and env.connectors()[name]["tasks.max"] == "2"
    assert len(res["connectors"][name]["tasks"]) == 2
    assert env.run(changed)["changed"] is False

    # Records produced now still arrive (the tasks restarted from their committed offsets, no duplicate).
    more = produce(clusters, topic, 3, 12)
    got = read_target(clusters, topic, 3, 24, env=env)
    assert_same(got, dict((p, sent[p] + more[p]) for p in sent))

    # Removal: check mode keeps them, the real run deletes them, a second run changes nothing.
    absent = env.params([topic], state="absent")
    res = env.run(absent, check_mode=True)
    assert res["changed"] is True and res["diff"]["after"] == {} and len(res["diff"]["before"]) == 2
    assert len(env.connectors()) == 2
    res = env.run(absent)
    assert res["changed"] is True and env.connectors() == {}
    assert all(c["state"] == "ABSENT" for c in res["connectors"].values())
    assert env.run(absent)["changed"] is False


def test_heartbeat_connector_is_added_and_removed_with_its_option(clusters, env):
    topic = env.create_source_topic(env.prefix + "-hb", 1)
    produce(clusters, topic, 1, 2)
    res = env.run(env.params([topic], heartbeats=True, checkpoints=False, exactly_once="disabled"))
    assert sorted(res["connectors"]) == [env.prefix + "-heartbeat", env.prefix + "-source"]
    assert res["exactly_once"] is False and "exactly.once.support" not in env.connectors()[env.prefix + "-source"]
    assert res["connectors"][env.prefix + "-heartbeat"]["state"] == "RUNNING"
    res = env.run(env.params([topic], heartbeats=False, checkpoints=False, exactly_once="disabled"))
    assert res["changed"] is True and res["connectors"][env.prefix + "-heartbeat"]["action"] == "delete"
    assert sorted(env.connectors()) == [env.prefix + "-source"]


def test_secrets_are_masked_in_diff_and_result(clusters, env):
    topic = env.create_source_topic(env.prefix + "-sec", 1)
    res = env.run(env.params([topic], wait=False), check_mode=True)
    text = json.dumps(res)
    assert clusters["target"]["sasl_password"] not in text
    assert res["diff"]["after"][env.prefix + "-source"]["target.cluster.sasl.jaas.config"] == "********"

    # A secret given through config (unused by the PLAINTEXT source) changes: masked, marked changed.
    def jaas(password):
        return {"source.cluster.sasl.jaas.config":
                'org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="%s";' % password}

    res = env.run(env.params([topic], config=jaas("first-secret")))
    assert res["changed"] is True
    assert "first-secret" not in json.dumps(res) and clusters["target"]["sasl_password"] not in json.dumps(res)
    res = env.run(env.params([topic], config=jaas("second-secret")), check_mode=True)
    text = json.dumps(res)
    assert res["changed"] is True
    assert "first-secret" not in text and "second-secret" not in text
    name = env.prefix + "-source"
    assert res["diff"]["before"][name]["source.cluster.sasl.jaas.config"] == "********"
    assert res["diff"]["after"][name]["source.cluster.sasl.jaas.config"] == "******** (changed)"
    assert res["diff"]["after"][name]["target.cluster.sasl.jaas.config"] == "********"


def test_rejected_config_fails_before_anything_is_deployed(env):
    topic = env.create_source_topic(env.prefix + "-bad", 1)
    params = env.params([topic], connector_config={"source": {"replication.policy.class": "no.such.Policy"}})
    with pytest.raises(KafkaOpsError) as err:
        env.run(params)
    assert err.value.msg.startswith("Kafka Connect at %s rejected the MirrorMaker 2 config, nothing was changed: "
                                    "%s-source: replication.policy.class" % (env.url, env.prefix))
    assert "replication.policy.class" in err.value.msg
    assert env.connectors() == {}


def test_wait_is_bounded_when_no_source_topic_matches(env):
    params = env.params([env.prefix + "-missing"])
    t0 = time.monotonic()
    with pytest.raises(KafkaOpsError) as err:
        env.run(params, timeout=8)
    assert time.monotonic() - t0 < 20
    assert "not running before the timeout" in err.value.msg and env.prefix + "-source" in err.value.msg
    assert err.value.details["changed"] is True and env.prefix + "-source" in err.value.details["connectors"]


def test_connect_cluster_of_another_kafka_cluster_is_refused(clusters, env):
    topic = env.create_source_topic(env.prefix + "-wrong", 1)
    # Pretend the target is the source cluster: the worker writes to the real target, so it must refuse.
    with pytest.raises(KafkaOpsError, match="writes to Kafka cluster .* but the target cluster is"):
        env.run(env.params([topic]), target=clusters.source)
    assert env.connectors() == {}


def test_unreachable_connect_url_fails_within_the_deadline(clusters, env):
    params = env.params(["any"], connect_url="http://127.0.0.1:1")
    with pytest.raises(KafkaOpsError) as err:
        env.run(params, timeout=5)
    assert err.value.msg.startswith("Kafka Connect at http://127.0.0.1:1: GET / failed")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        url = "http://127.0.0.1:%d" % listener.getsockname()[1]
        t0 = time.monotonic()
        with pytest.raises(KafkaOpsError) as err:
            env.run(env.params(["any"], connect_url=url), timeout=3)
        assert time.monotonic() - t0 < 6
        assert url in err.value.msg and "no answer within" in err.value.msg
    finally:
        listener.close()


def test_failed_task_fails_the_wait_with_its_trace(env):
    topic = env.create_source_topic(env.prefix + "-bad-task", 1)
    # The worker's validation does not look into source.consumer.*: the task fails when it builds its consumer.
    params = env.params([topic], checkpoints=False,
                        connector_config={"source": {"source.consumer.fetch.max.wait.ms": "not-a-number"}})
    params["stable_for"] = 3
    t0 = time.monotonic()
    with pytest.raises(KafkaOpsError) as err:
        env.run(params, timeout=60)
    assert time.monotonic() - t0 < 45
    msg = err.value.msg
    assert msg.startswith("Kafka Connect at %s: connector %s-source task 0 FAILED on " % (env.url, env.prefix))
    assert "ConfigException: Invalid value not-a-number for configuration fetch.max.wait.ms" in msg
    tasks = err.value.details["connectors"][env.prefix + "-source"]["tasks"]
    assert tasks[0]["state"] == "FAILED" and "\tat org.apache.kafka" in tasks[0]["trace"]
    assert err.value.details["changed"] is True


# -- through Ansible ----------------------------------------------------------------------------------
PLAYBOOK = """
- name: kafka_mirror engine mirrormaker2
  hosts: localhost
  gather_facts: false
  vars:
    mm2:
      connect_url: "{{ connect_url }}"
      connector_prefix: "{{ prefix }}"
      groups: ["{{ prefix }}.*"]
  tasks:
    - name: Deploy in check mode
      kafkaops.migration.kafka_mirror:
        engine: mirrormaker2
        source: "{{ kafka_source }}"
        target: "{{ kafka_target }}"
        topics: ["{{ topic }}"]
        interval: 1
        mirrormaker2: "{{ mm2 }}"
      check_mode: true
      register: check
    - name: Nothing was deployed
      ansible.builtin.uri:
        url: "{{ connect_url }}/connectors/{{ prefix }}-source"
        status_code: 404
    - name: Deploy
      kafkaops.migration.kafka_mirror:
        engine: mirrormaker2
        source: "{{ kafka_source }}"
        target: "{{ kafka_target }}"
        topics: ["{{ topic }}"]
        interval: 1
        mirrormaker2: "{{ mm2 }}"
      register: deploy
    - name: Deploy again
      kafkaops.migration.kafka_mirror:
        engine: mirrormaker2
        source: "{{ kafka_source }}"
        target: "{{ kafka_target }}"
        topics: ["{{ topic }}"]
        interval: 1
        mirrormaker2: "{{ mm2 }}"
      register: again
    - name: Remove
      kafkaops.migration.kafka_mirror:
        engine: mirrormaker2
        source: "{{ kafka_source }}"
        target: "{{ kafka_target }}"
        topics: ["{{ topic }}"]
        mirrormaker2: "{{ mm2 | combine({'state': 'absent'}) }}"
      register: removed
    - name: Check the results
      ansible.builtin.assert:
        that:
          - check is changed
          - deploy is changed
          - deploy.connectors[prefix ~ '-source'].state == 'RUNNING'
          - deploy.exactly_once
          - again is not changed
          - removed is changed
"""


def test_playbook_check_deploy_again_remove(clusters, env, tmp_path):
    from tests.utils.playbook import run_playbook

    topic = env.create_source_topic(env.prefix + "-play", 2)
    produce(clusters, topic, 2, 3)
    book = tmp_path / "mm2.yml"
    book.write_text(PLAYBOOK)
    extra = {"kafka_source": clusters.source, "kafka_target": clusters.target, "connect_url": env.url,
             "prefix": env.prefix, "topic": topic}
    rc, out = run_playbook(str(book), extra, diff=True, timeout=300)
    assert rc == 0, out[-3000:]
    assert "changed=3" in out and "failed=0" in out
    assert clusters["target"]["sasl_password"] not in out
    assert env.connectors() == {}
