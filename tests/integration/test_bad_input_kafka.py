"""Every row of the bad-input table (tests/utils/bad_input.py, published as docs/bad-input.md) against
the real clusters: the task fails (or warns, where the row says so) with the message the table shows,
within a bounded time, and nothing changed: the topics of both clusters, the test's groups and their
committed offsets, the source topic's end offsets and the files in the scratch folder are the same
before and after. ``pytest --durations=0`` prints how long each row took."""

import hashlib
import importlib
import json
import os
import time

import pytest
from ansible.module_utils import basic
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.utils import bad_input
from tests.utils.modules import FailJson, run_module
from tests.utils.playbook import run_playbook
from tests.utils.wait import list_offsets, wait_committed, wait_topics_on_every_broker

pytestmark = pytest.mark.kafka

# A row may take its request_timeout (bad_input.RT) a few times over while librdkafka retries; far more
# than that means a retry loop that does not end.
MAX_SECONDS = 30


@pytest.fixture(scope="module")
def ctx(clusters, tmp_path_factory):
    tag = "bad" + os.urandom(3).hex()
    topic, group = tag + "-orders", tag + "-billing"
    conf = clusters.librdkafka("source")
    admin = AdminClient(conf)
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(30)
    wait_topics_on_every_broker(conf, [topic], partitions=2)
    producer = Producer(conf)
    for i in range(10):
        producer.produce(topic, key=b"k%d" % i, value=b"v%d" % i, partition=i % 2)
    assert producer.flush(30) == 0
    consumer = Consumer(dict(conf, **{"group.id": group, "enable.auto.commit": False}))
    consumer.commit(offsets=[TopicPartition(topic, 0, 3), TopicPartition(topic, 1, 2)], asynchronous=False)
    consumer.close()
    wait_committed(admin, group, {(topic, 0): 3, (topic, 1): 2})
    return {"source": clusters.source, "target": clusters.target, "topic": topic, "group": group,
            "tmp": str(tmp_path_factory.mktemp("bad-input")), "tag": tag}


_ADMINS = {}


def _admin(clusters, name):
    if name not in _ADMINS:
        _ADMINS[name] = AdminClient(clusters.librdkafka(name))
    return _ADMINS[name]


def _group_offsets(admin, group):
    res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(30)
    return sorted((tp.topic, tp.partition, tp.offset) for tp in res.topic_partitions)


def snapshot(clusters, ctx, all_groups=False):
    """What a failed task must not have changed: both clusters' topics (and partition counts), the test
    group's committed offsets on both, the source topic's end offsets, the scratch folder's files (content
    and mode); with ``all_groups``, every group with the run's tag on either cluster and its offsets."""
    out = {}
    for name in ("source", "target"):
        admin = _admin(clusters, name)
        meta = admin.list_topics(timeout=30)
        out[name + " topics"] = sorted((t, len(m.partitions)) for t, m in meta.topics.items())
        if all_groups:
            listed = admin.list_consumer_groups().result(30)
            names = sorted(g.group_id for g in listed.valid if ctx["tag"] in g.group_id)
            out[name + " groups"] = dict((g, _group_offsets(admin, g)) for g in names)
        else:
            out[name + " group"] = _group_offsets(admin, ctx["group"])
    out["source end offsets"] = sorted(list_offsets(_admin(clusters, "source"), [(ctx["topic"], p) for p in (0, 1)]).items())
    files = {}
    for root, _dirs, names in os.walk(ctx["tmp"]):
        for n in names:
            path = os.path.join(root, n)
            with open(path, "rb") as fh:
                files[os.path.relpath(path, ctx["tmp"])] = (hashlib.sha256(fh.read()).hexdigest(), os.stat(path).st_mode)
    out["files"] = files
    return out


@pytest.fixture(scope="module")
def initial(clusters, ctx):
    """Every group of the run before the first row; the last test compares."""
    return snapshot(clusters, ctx, all_groups=True)


def _prepare_files(case, ctx):
    for rel, text in case.files.items():
        with open(os.path.join(ctx["tmp"], rel), "w") as fh:
            fh.write(text)


@pytest.mark.parametrize("case", bad_input.MODULE_CASES, ids=[c.id for c in bad_input.MODULE_CASES])
def test_module_bad_input(case, clusters, ctx, initial, monkeypatch):
    _prepare_files(case, ctx)
    before = snapshot(clusters, ctx)
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, text: warnings.append(text))
    module = importlib.import_module("ansible_collections.kafkaops.migration.plugins.modules." + case.where)
    sees = bad_input.fill(case.sees, ctx)
    t0 = time.monotonic()
    if case.kind == "fail":
        with pytest.raises(FailJson) as failed:
            run_module(module, bad_input.fill(case.args, ctx))
        msg = failed.value.result["msg"]
        assert sees in msg, "expected %r in the message, got: %s" % (sees, msg)
        assert not failed.value.result.get("changed")
    else:
        result = run_module(module, bad_input.fill(case.args, ctx))
        assert result["changed"] is False
        assert any(sees in w for w in warnings), "expected a warning holding %r, got: %s" % (sees, warnings)
    assert time.monotonic() - t0 < MAX_SECONDS
    assert snapshot(clusters, ctx) == before


def test_role_bad_input(clusters, ctx, tmp_path):
    """Each role row runs the role (argument spec and preflight) in a block whose rescue keeps the message."""
    results = tmp_path / "results.json"
    tasks = [{"name": "Start with no results", "ansible.builtin.set_fact": {"bad_input_results": {}}}]
    for case in bad_input.ROLE_CASES:
        tasks.append({"name": "Row " + case.id, "block": [
            {"name": "Run " + case.where, "ansible.builtin.include_role": {"name": "kafkaops.migration." + case.where},
             "vars": bad_input.fill(case.args, ctx)},
            {"name": "Record that it passed", "ansible.builtin.set_fact": {
                "bad_input_results": "{{ bad_input_results | combine({'%s': 'PASSED'}) }}" % case.id}},
        ], "rescue": [
            {"name": "Record the message", "ansible.builtin.set_fact": {
                "bad_input_results": "{{ bad_input_results | combine({'%s': ansible_failed_result.msg | default('')}) }}"
                % case.id}},
        ]})
    tasks.append({"name": "Write the results", "ansible.builtin.copy": {
        "content": "{{ bad_input_results | to_json }}", "dest": str(results), "mode": "0600"}})
    playbook = tmp_path / "bad-input.yml"
    playbook.write_text(json.dumps([{"name": "Bad input to every role", "hosts": "localhost", "gather_facts": False,
                                     "tasks": tasks}]))
    before = snapshot(clusters, ctx, all_groups=True)
    rc, output = run_playbook(str(playbook), timeout=300)
    assert rc == 0 and results.exists(), output
    got = json.loads(results.read_text())
    for case in bad_input.ROLE_CASES:
        sees = bad_input.fill(case.sees, ctx)
        assert sees in got[case.id], "%s: expected %r in the message, got: %s" % (case.id, sees, got[case.id])
    assert snapshot(clusters, ctx, all_groups=True) == before


def test_no_row_created_a_group(clusters, ctx, initial):
    """After every row: no group with the run's tag appeared on either cluster, none moved."""
    now = snapshot(clusters, ctx, all_groups=True)
    keys = ("source groups", "target groups", "source topics", "target topics", "source end offsets")
    assert dict((k, now[k]) for k in keys) == dict((k, initial[k]) for k in keys)
