"""playbooks/migrate.yml in check mode on a fresh set-up, and the refusal of a run that switches nothing.

Fresh set-up: the topic only on the source, the applications running on the source (old consumer and
two producers under supervisord, tests/integration/test_roles_kafka.py's AppRig). ``--check --diff`` of
all eight steps must return 0, say what each step would do, and change nothing on either cluster (topic
list, group offsets) or host (client configuration files, services).

    pytest -q tests/integration/test_migrate_check_kafka.py      (KAFKAOPS_CLUSTERS_FILE: running clusters)
"""

import json
import re
import sys

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions
from confluent_kafka.admin import AdminClient

from tests.integration.test_demo_apps import wait_for
from tests.integration.test_roles_kafka import AppRig, run_with_inventory

pytestmark = pytest.mark.kafka


def snapshot(rig):
    """What check mode must not change: topics and group offsets on both clusters, files and services."""
    state = {}
    for cluster in ("source", "target"):
        admin = AdminClient(rig.clusters.librdkafka(cluster))
        state[cluster + "_topics"] = sorted(t for t in admin.list_topics(timeout=15).topics if rig.topic in t)
        fut = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(rig.group)], request_timeout=15)[rig.group]
        state[cluster + "_group"] = sorted((tp.partition, tp.offset) for tp in fut.result(timeout=20).topic_partitions)
    state["files"] = dict((p.name, p.read_text()) for p in sorted(rig.folder.glob("*.properties")))
    state["services"] = dict((name, rig.supervisor.state(name)) for name in ["consumer-old", "consumer-new"] + rig.producers)
    return state


# what each step says it would do, per case
WOULD = {
    "evaluate": ["recommended target:"],
    "topics": ["would create: 1 topic(s)"],
    "groups": ["would commit ({policy}): {group}", "on topics topic sync would create: {topic}"],
    "consumers": ["{folder}/new.properties: bootstrap.servers", "consumers on app-1: would start consumer-new"],
    "producers": ["producers on app-p1: would restart p1", "producers on app-p2: would restart p2"],
    "drain": ["would wait until {topic} receive no more writes", "old consumers on app-1: would stop consumer-old"],
}


@pytest.mark.parametrize("procedure,copy", [("drain", False), ("drain", True), ("move", True)],
                         ids=["drain", "drain-copy", "move"])
def test_check_mode_previews_every_step_and_changes_nothing(clusters, unique, tmp_path, procedure, copy):
    rig = AppRig(clusters, tmp_path, unique, "check-%s" % procedure)
    extra = rig.extra(kafka_migration_procedure=procedure, kafka_evaluate_sample_window=0,
                      kafka_evaluate_include=[re.escape(rig.topic)])
    if copy:
        extra.update(kafka_migration_copy=True, kafka_copy_include=[re.escape(rig.topic)], kafka_copy_name=unique("ck"))
    with rig.supervisor as sup:
        sup.ctl("start", "consumer-old", *rig.producers)
        wait_for("the old consumer to process and commit", lambda: len(rig.ledger("old")) >= 40, 90)
        before = snapshot(rig)

        rc, out = rig.run(extra, check=True)
        assert rc == 0, out[-6000:]
        after = snapshot(rig)

    # the old consumer goes on committing on the source as it processes: its offsets only move forward
    src_before, src_after = dict(before.pop("source_group")), dict(after.pop("source_group"))
    assert sorted(src_after) == sorted(src_before) and all(src_after[p] >= src_before[p] for p in src_before)
    assert before["target_group"] == [] and before["target_topics"] == []
    assert after == before
    assert "admin-secret" not in out
    assert "skipping: no hosts matched" not in out
    names = dict(topic=rig.topic, group=rig.group, folder=str(tmp_path), policy="translate" if procedure == "move" else "earliest")
    expected = [w.format(**names) for step in WOULD.values() for w in step]
    if procedure == "drain":
        expected.append("would wait until groups %s have consumed everything" % rig.group)
    if copy:
        passes = ["first backup pass: would copy", "final backup pass: would copy"] if procedure == "drain" else \
            ["bulk pass: would copy", "catch-up pass: would copy", "final pass: would copy"]
        expected += passes
    if procedure == "drain" and copy:
        expected.append("target topics: source.<source topic>")
    if procedure == "move":
        expected.append("would commit only once")        # the groups step needs the old consumers stopped first
    missing = [w for w in expected if w not in out]
    assert missing == [], out[-8000:]


def test_inventory_without_application_hosts_is_refused(clusters, unique, tmp_path):
    topic = unique("refused")
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
                                             "hosts": {"localhost": {}}}}))
    extra = {"kafka_source": clusters.source, "kafka_target": clusters.target, "kafka_topics_include": [re.escape(topic)],
             "kafka_drain_groups": ["nobody"]}
    rc, out = run_with_inventory(inventory, extra)
    assert rc != 0
    assert "kafka_consumers, kafka_producers, kafka_old_consumers have no hosts in the inventory" in out
    assert "kafka_migration_steps" in out and "--tags evaluate,instance,topics,copy,groups" in out
    assert "Step 3, copy the topics" not in out              # refused before anything ran
    # naming the steps, or choosing them with --tags, needs no application hosts
    rc, out = run_with_inventory(inventory, dict(extra, kafka_migration_steps=["topics"]), check=True)
    assert rc == 0, out[-4000:]
    assert "steps of this run: topics" in out
    rc, out = run_with_inventory(inventory, extra, tags="topics", check=True)
    assert rc == 0, out[-4000:]
    assert "would create: 0 topic(s)" in out or "would create: 1 topic(s)" in out
    # the move procedure also needs the old consumers' hosts for its consumers step
    rc, out = run_with_inventory(inventory, dict(extra, kafka_migration_procedure="move", kafka_migration_copy=True,
                                                 kafka_migration_steps=["consumers"]))
    assert rc != 0
    assert "kafka_old_consumers, kafka_consumers have no hosts" in out
    # and move without the copy is refused
    rc, out = run_with_inventory(inventory, dict(extra, kafka_migration_procedure="move", kafka_migration_steps=["topics"]))
    assert rc != 0 and "move needs the copy" in out
