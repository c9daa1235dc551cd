"""Both procedures of playbooks/migrate.yml, each in ONE run, with live traffic and ledgers.

The demo applications run under supervisord (tests/integration/test_roles_kafka.py's AppRig): two
producers write numbered, keyed messages and log what the cluster acknowledged; the old and the new
consumer log what they processed. After the run: every acknowledged message processed exactly once
(0 lost, 0 processed twice), numbers without gaps, nobody read a backup topic. The old group has lag
at the switch (the case that processed 7,633 records twice): in drain the old consumer is down while
the target groups get their offsets; in move the groups translate while copied records lie past the
old group's position. Then the same run again changes nothing (recap changed 0, offsets compared).

    pytest -q tests/integration/test_procedures_kafka.py      (KAFKAOPS_CLUSTERS_FILE: running clusters)
"""

import json
import re
import time

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from tests.integration.test_demo_apps import wait_for
from tests.integration.test_roles_kafka import AppRig, recap_all

pytestmark = pytest.mark.kafka


def committed(clusters, cluster, group):
    """``{partition: offset}`` the group committed on ``cluster`` (``source`` / ``target``)."""
    admin = AdminClient(clusters.librdkafka(cluster))
    fut = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=15)[group]
    return dict((tp.partition, tp.offset) for tp in fut.result(timeout=20).topic_partitions if tp.offset >= 0)


def log_ends(clusters, cluster, topic, partitions=3):
    admin = AdminClient(clusters.librdkafka(cluster))
    futs = admin.list_offsets(dict((TopicPartition(topic, p), OffsetSpec.latest()) for p in range(partitions)),
                              request_timeout=15)
    return dict((tp.partition, fut.result(timeout=20).offset) for tp, fut in futs.items())


def records(clusters, cluster, topic, partitions=3, timeout=60):
    """``{partition: number of records}`` a read_committed consumer gets from the log start to the end."""
    from confluent_kafka import Consumer
    ends = log_ends(clusters, cluster, topic, partitions)
    consumer = Consumer(dict(clusters.librdkafka(cluster), **{
        "group.id": "count-" + topic, "enable.auto.commit": False, "isolation.level": "read_committed"}))
    counts = dict((p, 0) for p in range(partitions))
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions) if ends[p] > 0])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            positions = dict((tp.partition, tp.offset) for tp in consumer.position(
                [TopicPartition(topic, p) for p in range(partitions)]))
            if all(ends[p] == 0 or positions.get(p, -1) >= ends[p] for p in ends):
                return counts
            for msg in consumer.consume(500, 0.5):
                if not msg.error():
                    counts[msg.partition()] += 1
        raise AssertionError("could not read %s to its end: %s of %s" % (topic, counts, ends))
    finally:
        consumer.close()


def lag(clusters, group, topic):
    ends, done = log_ends(clusters, "source", topic), committed(clusters, "source", group)
    return sum(ends[p] - done.get(p, 0) for p in ends)


def run_again_unchanged(rig, extra):
    """The same whole run again: rc 0, changed 0; source untouched, target group never rewound."""
    src_group, src_ends = committed(rig.clusters, "source", rig.group), log_ends(rig.clusters, "source", rig.topic)
    tgt_before = committed(rig.clusters, "target", rig.group)
    rc, out = rig.run(extra)
    assert rc == 0, out[-5000:]
    changed = [task.split("\n", 1)[0] for task in out.split("TASK [")[1:] if "\nchanged: [" in task]
    assert recap_all(out) == (0, 0) and changed == [], changed
    assert committed(rig.clusters, "source", rig.group) == src_group
    assert log_ends(rig.clusters, "source", rig.topic) == src_ends
    tgt_after = committed(rig.clusters, "target", rig.group)
    # the new consumer goes on committing what the producers now write to the target: never below
    assert sorted(tgt_after) == sorted(tgt_before) and all(tgt_after[p] >= tgt_before[p] for p in tgt_before)
    return out


@pytest.mark.parametrize("copy", [False, True], ids=["copy-off", "copy-on"])
def test_drain_procedure_one_run(clusters, unique, tmp_path, copy):
    rig = AppRig(clusters, tmp_path, unique, "drain-%s" % ("copy" if copy else "nocopy"))
    backup = "source." + rig.topic
    extra = rig.extra(kafka_migration_procedure="drain", kafka_evaluate_sample_window=0,
                      kafka_evaluate_include=[re.escape(rig.topic)])
    if copy:
        extra.update(kafka_migration_copy=True, kafka_copy_include=[re.escape(rig.topic)], kafka_copy_name=unique("bk"))

    with rig.supervisor as sup:
        sup.ctl("start", "consumer-old", *rig.producers)
        wait_for("the old consumer to process and commit", lambda: len(rig.ledger("old")) >= 40, 90)
        # the old consumer falls behind: it is down while the target groups get their offsets
        sup.ctl("stop", "consumer-old")
        wait_for("a backlog on the source", lambda: lag(clusters, rig.group, rig.topic) >= 100, 60)

        run = rig.run(extra, background=True)
        try:
            wait_for("the groups step to commit on the target",
                     lambda: run.poll() is not None or committed(clusters, "target", rig.group), 300)
            assert run.poll() is None, (tmp_path / "run.log").read_text()[-5000:]
            lag_at_switch = lag(clusters, rig.group, rig.topic)
            assert lag_at_switch > 0
            assert rig.ledger("new") == []                     # no producer has moved yet, nothing read on the target
            sup.ctl("start", "consumer-old")                   # it catches up while the migration goes on
            run.wait(600)
        finally:
            if run.poll() is None:
                run.kill()
        out = (tmp_path / "run.log").read_text()
        assert run.returncode == 0, out[-5000:]
        assert "procedure drain, copy %s" % ("on" if copy else "off") in out
        assert out.count("PLAY [Step 7, move the producers to the target, host by host]") == 2
        assert sup.state("consumer-old") == "STOPPED" and sup.state("consumer-new") == "RUNNING"
        assert all(sup.state(p) == "RUNNING" for p in rig.producers)
        assert lag(clusters, rig.group, rig.topic) == 0        # the old group drained the source
        if copy:
            assert "first backup pass: copied" in out and "final backup pass: copied" in out
            # the backup is complete: the source is idle and every record of every partition was copied
            # (the target's offsets are further on: each copy transaction ends with a commit marker)
            assert records(clusters, "target", backup) == log_ends(clusters, "source", rig.topic)
        else:
            assert backup not in AdminClient(clusters.librdkafka("target")).list_topics(timeout=15).topics

        rig.written_to_target(10)
        run_again_unchanged(rig, extra)
        old, new, acked = rig.finish()

    figures = rig.check_ledgers(old, new, acked)
    figures["lag_at_switch"] = lag_at_switch
    print("drain copy=%s: %s" % (copy, json.dumps(figures)))
    assert figures["on_source"] > 0 and figures["on_target"] > 0
    # drain: the old consumers processed everything written to the source, the new ones what went to the target
    assert figures["processed_old"] == figures["on_source"] and figures["processed_new"] == figures["on_target"]


def test_move_procedure_one_run(clusters, unique, tmp_path):
    rig = AppRig(clusters, tmp_path, unique, "move")
    report = tmp_path / "groups.json"
    extra = rig.extra(kafka_migration_procedure="move", kafka_migration_copy=True, kafka_copy_include=[re.escape(rig.topic)],
                      kafka_copy_name=unique("mv"), kafka_groups_report_file=str(report), kafka_evaluate_sample_window=0,
                      kafka_evaluate_include=[re.escape(rig.topic)])

    with rig.supervisor as sup:
        sup.ctl("start", "consumer-old", *rig.producers)
        wait_for("the old consumer to process and commit", lambda: len(rig.ledger("old")) >= 40, 90)

        rc, out = rig.run(extra)
        assert rc == 0, out[-5000:]
        assert "procedure move, copy on" in out
        for what in ("bulk pass: copied", "catch-up pass: copied", "final pass: copied", "committed (translate): %s" % rig.group):
            assert what in out, what
        # the order of the plays: the old consumers stop, the copy catches up, then the groups translate
        order = [out.index(s) for s in ("bulk pass: copied", "PLAY [Step 6 (move), stop the old consumers",
                                        "catch-up pass: copied", "committed (translate)", "PLAY [Step 6, start the new consumers",
                                        "PLAY [Step 7, move the producers", "final pass: copied")]
        assert order == sorted(order)
        assert sup.state("consumer-old") == "STOPPED" and sup.state("consumer-new") == "RUNNING"
        # the old group had lag at the switch: copied records past its position when the groups translated
        groups = json.loads(report.read_text())["groups"]
        parts = [p for g in groups if g["name"] == rig.group for p in g["partitions"]]
        lag_at_switch = sum(p["log_end"] - p["offset"] for p in parts)
        assert lag_at_switch > 0, parts
        # everything the source holds is on the target (the final pass ran once the source was idle)
        source_final = committed(clusters, "source", rig.group)
        never_consumed_on_source = lag(clusters, rig.group, rig.topic)
        assert never_consumed_on_source >= lag_at_switch

        rig.written_to_target(10)
        extra.pop("kafka_groups_report_file")                 # its content is each run's result
        run_again_unchanged(rig, extra)
        assert committed(clusters, "source", rig.group) == source_final   # nothing consumed on the source since
        old, new, acked = rig.finish()

    figures = rig.check_ledgers(old, new, acked)
    copied_and_processed = sum(1 for f in new if (f[0], int(f[1])) in set(
        (a[0], int(a[1])) for a in acked if a[5] == rig.source_servers))
    figures.update(lag_at_switch=lag_at_switch, never_consumed_on_source=never_consumed_on_source,
                   processed_on_target_from_copy=copied_and_processed)
    print("move: %s" % json.dumps(figures))
    # what the old group never processed was processed once, on the target, from the copy
    assert copied_and_processed == never_consumed_on_source > 0
    assert figures["processed_old"] + copied_and_processed == figures["on_source"]


def test_move_refuses_to_translate_while_the_old_group_consumes(clusters, unique, tmp_path):
    """The root cause of the 7,633 duplicates: translating while the old group still consumes on the source."""
    rig = AppRig(clusters, tmp_path, unique, "move-guard", producers=("p1",))
    extra = rig.extra(kafka_migration_procedure="move", kafka_migration_copy=True, kafka_copy_include=[re.escape(rig.topic)],
                      kafka_copy_name=unique("mg"))
    with rig.supervisor as sup:
        sup.ctl("start", "consumer-old", "p1")
        wait_for("the old consumer to process and commit", lambda: len(rig.ledger("old")) >= 20, 90)
        rc, out = rig.run(extra, "topics,copy")              # the copy's passes, but not the consumers step
        assert rc == 0, out[-5000:]
        rc, out = rig.run(extra, "groups")
        assert sup.state("consumer-old") == "RUNNING"
        sup.ctl("stop", "p1", "consumer-old")
    assert rc != 0
    assert "%s still has active members on the source" % rig.group in out, out[-3000:]
    assert "Nothing was committed on the target" in out
    assert committed(clusters, "target", rig.group) == {}
