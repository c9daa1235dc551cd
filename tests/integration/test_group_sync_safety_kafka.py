"""kafka_group_sync is safe by construction, against the real clusters (issue 7).

* one cluster given twice (two spellings of its address) is refused before anything is read, and the
  live source group keeps its offsets;
* never rewind: partitions the target group already committed (its new consumers ran) are kept, a
  second run changes nothing; only ``overwrite: true`` rewrites them, shown first in check mode;
* check mode previews a fresh set-up: groups on topics topic sync would create, and ``translate``
  before the copy wrote its offset map;
* the result has no key Ansible reserves: through ansible-playbook, a run that leaves an active group
  alone and changes another is reported as changed (recap, handlers), never as skipped.
"""

import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from ansible_collections.kafkaops.migration.plugins.modules import kafka_group_sync
from ansible_collections.kafkaops.migration.plugins.module_utils import groups as groups_core
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import Cluster
from tests.integration.test_group_sync_kafka import T0, Side, rows
from tests.utils.modules import FailJson, run_module
from tests.utils.playbook import run_playbook

pytestmark = pytest.mark.kafka


@pytest.fixture
def sides(clusters):
    source, target = Side(clusters.librdkafka("source")), Side(clusters.librdkafka("target"))
    yield source, target
    source.cleanup()
    target.cleanup()


def sync(clusters, check_mode=False, diff=False, source=None, target=None, **options):
    args = dict(source=source or clusters.source, target=target or clusters.target, timeout=60, **options)
    return run_module(kafka_group_sync, args, check_mode=check_mode, diff=diff)


def wait_group_state(side, group, states, timeout=30):
    """Bounded poll until the group's state on ``side`` is one of ``states`` (e.g. after close())."""
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        d = side.admin.describe_consumer_groups([group])[group].result(15)
        state = d.state.name
        if state in states and not d.members:
            return state
        time.sleep(0.2)
    raise AssertionError("group %s still %s after %ds" % (group, state, timeout))


def topic_exists(side, topic):
    """From the list of all topics: a metadata request naming the topic could auto-create it."""
    return topic in side.admin.list_topics(timeout=10).topics


# ------------------------------------------------------------------------------------------------
def test_one_cluster_under_two_spellings_is_refused_and_the_source_group_keeps_its_offsets(clusters, sides, unique):
    source, _target = sides
    topic, group = unique("gss-alias"), unique("gss-alias-app")
    source.create(topic, partitions=2)
    for p in range(2):
        source.produce(topic, p, [("p%d-%d" % (p, i), T0 + i) for i in range(6)])
    source.commit(group, {(topic, 0): 3, (topic, 1): 5})
    before = source.committed(group)
    assert before == {(topic, 0): 3, (topic, 1): 5}
    alias = dict(clusters.source, bootstrap_servers=[s.replace("127.0.0.1", "localhost")
                                                     for s in clusters.source["bootstrap_servers"]])
    assert alias["bootstrap_servers"] != clusters.source["bootstrap_servers"]
    # Without the identity check this would commit offset 0 (earliest, overwrite) on the live group.
    with pytest.raises(FailJson) as err:
        sync(clusters, target=alias, groups=[{"name": group, "overwrite": True}], policy="earliest")
    msg = err.value.result["msg"]
    assert "the source and the target are the same cluster" in msg, msg
    assert msg.startswith("nothing was read or written")
    assert source.committed(group) == before
    # The other way round too (the source spelled as localhost).
    with pytest.raises(FailJson) as err:
        sync(clusters, source=alias, target=clusters.source, group_pattern="^" + group, policy="earliest", overwrite=True)
    assert "the source and the target are the same cluster" in err.value.result["msg"]
    assert source.committed(group) == before


def test_a_rerun_after_the_cutover_keeps_what_the_new_consumers_committed(clusters, sides, unique):
    source, target = sides
    topic, other, group = unique("gss-keep"), unique("gss-keep-2"), unique("gss-keep-app")
    for side in (source, target):
        side.create(topic, partitions=2)
        side.create(other, partitions=1)
    for p in range(2):
        target.produce(topic, p, [("p%d-%d" % (p, i), T0 + i) for i in range(6)])
    source.commit(group, {(topic, 0): 4, (topic, 1): 2})
    source_before = source.committed(group)
    opts = dict(groups=[{"name": group, "topics": [topic]}], policy="earliest")

    # Step 4: the group starts at the target's log start.
    res = sync(clusters, **opts)
    assert res["changed"] is True and res["active_groups"] == []
    assert set(r["status"] for r in rows(res, group)[0].values()) == {"set"}
    assert target.committed(group) == {(topic, 0): 0, (topic, 1): 0}

    # The new consumers run on the target, process records and commit further; then they stop.
    member = Consumer(dict(clusters.librdkafka("target"), **{
        "group.id": group, "auto.offset.reset": "error", "enable.auto.commit": False,
        "isolation.level": "read_committed"}))
    try:
        member.subscribe([topic])
        seen, deadline = {0: [], 1: []}, time.monotonic() + 30
        while (len(seen[0]) < 6 or len(seen[1]) < 6) and time.monotonic() < deadline:
            m = member.poll(0.5)
            if m is None:
                continue
            assert m.error() is None, m.error()
            seen[m.partition()].append(m.offset())
        assert seen == {0: list(range(6)), 1: list(range(6))}, seen
        # Processed p0 up to offset 3 and all of p1.
        member.commit(offsets=[TopicPartition(topic, 0, 4), TopicPartition(topic, 1, 6)], asynchronous=False)
    finally:
        member.close()
    wait_group_state(target, group, ("EMPTY",))
    consumed = target.committed(group)
    assert consumed == {(topic, 0): 4, (topic, 1): 6}

    # The groups step again, with the new consumers stopped: nothing changes, both offsets shown.
    res = sync(clusters, diff=True, **opts)
    assert res["changed"] is False
    by_p, g = rows(res, group)
    assert g["status"] == "unchanged" and g["kept_partitions"] == 2 and g["overwrite"] is False
    assert [(r["status"], r["current_offset"], r["offset"], r["how"], r["changed"]) for _p, r in sorted(by_p.items())] == [
        ("kept", 4, 0, "earliest", False), ("kept", 6, 0, "earliest", False)]
    assert res["diff"]["before"] == {} and res["diff"]["after"] == {}
    assert "%s %s:0 kept at 4 (not changed; the policy gives 0" % (group, topic) in res["diff"]["prepared"]
    assert target.committed(group) == consumed

    # A topic added to the group: only its partitions (never committed on the target) are written.
    opts2 = dict(groups=[{"name": group, "topics": [topic, other]}], policy="earliest")
    res = sync(clusters, diff=True, **opts2)
    assert res["changed"] is True
    assert res["diff"]["after"] == {group: {other: {"0": 0}}} and res["diff"]["before"] == {group: {}}
    assert target.committed(group) == {**consumed, (other, 0): 0}
    assert sync(clusters, **opts2)["changed"] is False

    # overwrite: true for that group rewrites them; check mode shows it first and changes nothing.
    opts3 = dict(groups=[{"name": group, "topics": [topic, other], "overwrite": True}], policy="earliest")
    check = sync(clusters, check_mode=True, diff=True, **opts3)
    assert check["changed"] is True
    statuses = dict(((r["topic"], r["partition"]), r["status"]) for r in rows(check, group)[1]["partitions"])
    assert statuses == {(topic, 0): "overwritten", (topic, 1): "overwritten", (other, 0): "unchanged"}
    assert check["diff"]["before"] == {group: {topic: {"0": 4, "1": 6}}}
    assert check["diff"]["after"] == {group: {topic: {"0": 0, "1": 0}}}
    assert target.committed(group) == {**consumed, (other, 0): 0}
    res = sync(clusters, **opts3)
    assert res["changed"] is True
    assert target.committed(group) == {(topic, 0): 0, (topic, 1): 0, (other, 0): 0}
    assert target.first_records(group, topic, [0, 1]) == {0: (0, "p0-0"), 1: (0, "p1-0")}
    assert sync(clusters, **opts3)["changed"] is False
    # The source group was only read.
    assert source.committed(group) == source_before


def test_check_mode_previews_groups_on_topics_topic_sync_would_create(clusters, sides, unique):
    source, target = sides
    fresh, both, group = unique("gss-fresh"), unique("gss-both"), unique("gss-fresh-app")
    source.create(fresh, partitions=3)
    source.create(both, partitions=1)
    target.create(both, partitions=1)
    source.produce(fresh, 0, [("a", T0), ("b", T0)])
    target.produce(both, 0, [("x", T0), ("y", T0), ("z", T0)])
    source.commit(group, {(fresh, 0): 1, (both, 0): 0})
    target.groups.add(group)
    assert not topic_exists(target, fresh)

    # Policy earliest: every source partition planned on an empty log, nothing committed.
    opts = dict(groups=[{"name": group, "topics": [fresh]}], policy="earliest")
    res = sync(clusters, check_mode=True, diff=True, **opts)
    assert res["changed"] is True
    by_p, g = rows(res, group)
    assert sorted(by_p) == [0, 1, 2]
    for p, r in by_p.items():
        assert (r["offset"], r["how"], r["status"], r["log_start"], r["log_end"]) == (0, "earliest", "set", 0, 0)
        assert r["target_topic_missing"] is True and r["note"] == "would be created by topic sync"
    assert by_p[0]["source_offset"] == 1
    assert res["diff"]["after"] == {group: {fresh: {"0": 0, "1": 0, "2": 0}}}
    assert target.committed(group) == {}
    assert not topic_exists(target, fresh)
    plan = groups_core.sync_groups(Cluster(clusters.source, "source"), Cluster(clusters.target, "target"),
                                   dict(opts, fallback="earliest"), check_mode=True)
    assert any("topic %r does not exist on the target: planned as topic sync would create it (3 partitions" % fresh in w
               and "would be created by topic sync" in w for w in plan["warnings"]), plan["warnings"]

    # Outside check mode a missing topic still fails before anything changes.
    with pytest.raises(FailJson) as err:
        sync(clusters, **opts)
    assert "topic %r does not exist on the target" % fresh in err.value.result["msg"]
    assert target.committed(group) == {}

    # Translate before the copy ran (no offset map yet): check mode plans the fallback and warns.
    no_map = unique("gss-no-map")
    topts = dict(groups=[{"name": group, "topics": [fresh, both]}], policy="translate", fallback="latest",
                 offset_map_topic=no_map)
    res = sync(clusters, check_mode=True, **topts)
    assert res["changed"] is True
    got = {}
    for r in rows(res, group)[1]["partitions"]:
        got[(r["topic"], r["partition"])] = (r["offset"], r["how"], r.get("offset_map_missing"),
                                             r.get("target_topic_missing", False))
    assert got == {(fresh, 0): (0, "fallback-latest", True, True), (fresh, 1): (0, "fallback-latest", True, True),
                   (fresh, 2): (0, "fallback-latest", True, True), (both, 0): (3, "fallback-latest", True, False)}
    plan = groups_core.sync_groups(Cluster(clusters.source, "source"), Cluster(clusters.target, "target"),
                                   topts, check_mode=True)
    assert any("the copy has not run yet" in w and "the real run needs the offset map" in w for w in plan["warnings"])
    assert target.committed(group) == {}
    # The real run still requires the map.
    with pytest.raises(FailJson) as err:
        real = dict(topts)
        real["groups"] = [{"name": group, "topics": [both]}]
        sync(clusters, **real)
    assert "offset map topic %r not found on the target" % no_map in err.value.result["msg"]
    assert target.committed(group) == {}
    assert not topic_exists(target, fresh) and not topic_exists(target, no_map)


PLAYBOOK = """
- name: Group sync with one active group, through ansible-playbook
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Sync an active and an idle group
      kafkaops.migration.kafka_group_sync:
        source: "{{ kafka_source }}"
        target: "{{ kafka_target }}"
        policy: latest
        groups:
          - {name: "{{ busy }}", topics: ["{{ topic }}"]}
          - {name: "{{ idle }}", topics: ["{{ topic }}"]}
      register: synced
      notify: Report the change
    - name: The task result is what the module did
      ansible.builtin.assert:
        that:
          - synced is changed
          - synced is not skipped
          - synced.active_groups == [busy]
    - name: Again with policy earliest and one more topic - only the new topic is written, diff shows what is kept
      kafkaops.migration.kafka_group_sync:
        source: "{{ kafka_source }}"
        target: "{{ kafka_target }}"
        policy: earliest
        groups:
          - {name: "{{ idle }}", topics: ["{{ topic }}", "{{ topic2 }}"]}
      diff: true
      register: again
    - name: The committed partition was kept
      ansible.builtin.assert:
        that:
          - again is changed
          - again.groups[0].partitions | selectattr('topic', 'equalto', topic) | map(attribute='status') | list == ['kept']
          - again.groups[0].partitions | selectattr('topic', 'equalto', topic2) | map(attribute='status') | list == ['set']
  handlers:
    - name: Report the change
      ansible.builtin.debug:
        msg: "handler ran for {{ idle }}"
"""


def test_playbook_reports_a_run_with_an_active_group_as_changed_not_skipped(clusters, sides, unique, tmp_path):
    _source, target = sides
    topic, topic2, busy, idle = unique("gss-pb"), unique("gss-pb-2"), unique("gss-pb-busy"), unique("gss-pb-idle")
    target.create(topic, partitions=1)
    target.create(topic2, partitions=1)
    target.produce(topic, 0, [("r%d" % i, T0) for i in range(3)])
    target.groups.update([busy, idle])
    member = Consumer(dict(clusters.librdkafka("target"),
                           **{"group.id": busy, "auto.offset.reset": "earliest", "enable.auto.commit": False}))
    path = tmp_path / "playbook.yml"
    path.write_text(PLAYBOOK)
    try:
        member.subscribe([topic])
        deadline = time.monotonic() + 30
        while not member.assignment() and time.monotonic() < deadline:
            member.poll(0.2)
        assert member.assignment(), "the member never joined"
        rc, out = run_playbook(str(path), {"kafka_source": clusters.source, "kafka_target": clusters.target,
                                           "busy": busy, "idle": idle, "topic": topic, "topic2": topic2})
    finally:
        member.close()
    assert rc == 0, out[-3000:]
    assert "skipping: [localhost]" not in out
    assert "handler ran for %s" % idle in out
    assert "%s %s:0 kept at 3 (not changed; the policy gives 0; overwrite: true rewrites it)" % (idle, topic) in out
    recap = [line for line in out.splitlines() if line.startswith("localhost") and "ok=" in line]
    assert len(recap) == 1 and "changed=2 " in recap[0] and "skipped=0 " in recap[0] and "failed=0 " in recap[0], recap
    assert target.committed(idle) == {(topic, 0): 3, (topic2, 0): 0}
    assert target.committed(busy) == {}
