"""kafka_mirror against the real clusters: one cluster given twice, the selection, backup topics.

* The alias case (``localhost:PORT`` and ``127.0.0.1:PORT`` of one cluster) is refused by both
  engines before anything is read or written.
* ``include`` never selects an internal topic nor the offset-map topic; an exact internal name is
  refused.
* ``target_prefix`` / ``target_suffix``: every record of ``orders`` lands in the same partition of
  ``<prefix>orders<suffix>`` with its key, value, headers and timestamp; the offset map records that
  target topic per partition and translates onto it; one offset map never mixes two layouts.

Each test creates its own topics (unique names) and deletes them at the end.
"""

import json
import re

import pytest
from confluent_kafka.admin import AdminClient

from ansible_collections.kafkaops.migration.plugins.module_utils.connection import Cluster
from ansible_collections.kafkaops.migration.plugins.module_utils.offsetmap import load_from_topic
from ansible_collections.kafkaops.migration.plugins.modules import kafka_mirror
from tests.integration.test_mirror_kafka import Topics, make_records, produce, read_side, strip
from tests.utils.modules import FailJson, run_module

pytestmark = pytest.mark.kafka


@pytest.fixture
def topics(clusters):
    t = Topics(clusters)
    yield t
    t.cleanup()


def params(clusters, map_topic, **kw):
    p = dict(source=clusters.source, target=clusters.target, offset_map_topic=map_topic, timeout=120)
    p.update(kw)
    return p


def target_topic_names(clusters):
    return set(AdminClient(clusters.librdkafka("target")).list_topics(timeout=10).topics)


def alias_of(opts):
    """The same cluster, spelled with ``localhost`` instead of ``127.0.0.1``."""
    return dict(opts, bootstrap_servers=[s.replace("127.0.0.1", "localhost") for s in opts["bootstrap_servers"]])


def assert_backup_copy(clusters, topic, backup, partitions, map_topic):
    """Every source record, in order, in the same partition of ``backup``; the map translates onto it."""
    src = read_side(clusters, "source", topic, partitions)
    tgt = read_side(clusters, "target", backup, partitions)
    for p in range(partitions):
        assert strip(tgt[p]) == strip(src[p]), "partition %d differs" % p
    omap = load_from_topic(Cluster(clusters.target, "target"), map_topic)
    for p in range(partitions):
        assert omap.partitions[(topic, p)].target_topic == backup
        for s, t in zip(src[p], tgt[p]):
            assert omap.translate(topic, p, s[0]) == (t[0], "mapped")
    return src, tgt


# -- identity --------------------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ["builtin", "mirrormaker2"])
def test_one_cluster_given_twice_is_refused_and_nothing_is_written(clusters, topics, unique, tmp_path, engine):
    topic = unique("mirb-alias")
    topics.create("source", topic, 1, 1)
    produce(clusters, topic, make_records(1, 5, seed=21))
    map_topic = unique("mirb-map")
    progress = tmp_path / "progress.json"
    args = dict(source=clusters.source, target=alias_of(clusters.source), offset_map_topic=map_topic,
                topics=[topic], name=unique("n"), progress_file=str(progress), engine=engine, timeout=60)
    if engine == "mirrormaker2":
        # Never reached: the identity check comes first (this URL would fail otherwise).
        args["mirrormaker2"] = {"connect_url": "http://127.0.0.1:9", "request_timeout": 2}
    for check_mode in (True, False):
        with pytest.raises(FailJson) as err:
            run_module(kafka_mirror, args, check_mode=check_mode)
        msg = err.value.result["msg"]
        assert "the source and the target are the same cluster" in msg, msg
        assert "nothing was read or written" in msg
    assert not progress.exists()
    md = AdminClient(clusters.librdkafka("source")).list_topics(timeout=10)
    assert map_topic not in md.topics
    assert len(md.topics[topic].partitions) == 1
    assert [len(v) for v in read_side(clusters, "source", topic, 1).values()] == [5]


# -- selection -------------------------------------------------------------------------------------
def test_include_selects_no_internal_topic(clusters, topics, unique):
    prefix = unique("mirb-sel")
    user = topics.both(prefix + ".orders", 1)
    internal = [prefix + ".heartbeats", "mm2-offset-syncs.%s.internal" % prefix, "__" + prefix,
                prefix + ".checkpoints.internal"]
    for name in internal:
        topics.both(name, 1)
        produce(clusters, name, make_records(1, 3, seed=22))
    map_topic = prefix + ".map"  # matches the include pattern: must still never be selected
    topics.both(map_topic, 1)
    topics.track("target", map_topic)
    produce(clusters, user, make_records(1, 4, seed=23))
    res = run_module(kafka_mirror, params(clusters, map_topic, include=[re.escape(prefix) + ".*"], name=unique("n")))
    assert res["topics"] == [user] and res["records"] == 4
    for name in internal:
        assert read_side(clusters, "target", name, 1) == {0: []}, name
    # The old option name is an alias: the same selection.
    again = run_module(kafka_mirror, params(clusters, map_topic, topic_patterns=[re.escape(prefix) + ".*"],
                                            exclude_patterns=[".*nothing"], name=res["name"]))
    assert again["topics"] == [user] and again["changed"] is False
    with pytest.raises(FailJson) as err:
        run_module(kafka_mirror, params(clusters, map_topic, topics=[user, internal[0]], name=res["name"]))
    assert "%s is an internal topic (MirrorMaker 2) and is never copied" % internal[0] in err.value.result["msg"]


# -- backup topics ---------------------------------------------------------------------------------
def test_prefix_and_suffix_copy_into_backup_topics(clusters, topics, unique, tmp_path):
    topic = unique("mirb-orders")
    topics.create("source", topic, 3, 2)
    backup = "bk.%s.copy" % topic
    topics.create("target", backup, 3, 2)  # what kafka_topic_sync with the same prefix/suffix creates
    map_topic = unique("mirb-map")
    topics.track("target", map_topic)
    produce(clusters, topic, make_records(3, 60, seed=24))
    args = params(clusters, map_topic, topics=[topic], name=unique("n"), target_prefix="bk.", target_suffix=".copy",
                  progress_file=str(tmp_path / "p.json"))
    check = run_module(kafka_mirror, args, check_mode=True, diff=True)
    assert check["changed"] is True and check["records"] == 180
    assert check["target_topics"] == {topic: backup} and check["missing_target_topics"] == []
    assert all(p["target_topic"] == backup for p in check["partitions"])
    assert map_topic not in target_topic_names(clusters)
    assert read_side(clusters, "target", backup, 3) == {0: [], 1: [], 2: []}
    res = run_module(kafka_mirror, args)
    assert res["changed"] is True and res["records"] == 180
    assert res["target_topics"] == {topic: backup} and res["target_prefix"] == "bk." and res["target_suffix"] == ".copy"
    assert topic not in target_topic_names(clusters)  # nothing written under the source's own name
    assert_backup_copy(clusters, topic, backup, 3, map_topic)
    progress = json.loads((tmp_path / "p.json").read_text())
    assert progress["status"] == "done" and progress["target_topics"] == {topic: backup}
    # More records: the next run appends to the backup only (resume unchanged).
    produce(clusters, topic, make_records(3, 10, seed=25))
    more = run_module(kafka_mirror, args)
    assert more["records"] == 30 and all(p["resumed"] for p in more["partitions"])
    assert_backup_copy(clusters, topic, backup, 3, map_topic)
    assert run_module(kafka_mirror, args)["changed"] is False
    assert run_module(kafka_mirror, args, check_mode=True)["changed"] is False


def test_missing_backup_topic_fails_before_writing_and_check_mode_plans_it(clusters, topics, unique, tmp_path):
    topic = topics.both(unique("mirb-miss"), 2)  # the same-named target topic exists, the backup does not
    produce(clusters, topic, make_records(2, 5, seed=26))
    map_topic = unique("mirb-map")
    progress = tmp_path / "p.json"
    args = params(clusters, map_topic, topics=[topic], name=unique("n"), target_prefix="nobk.", progress_file=str(progress))
    with pytest.raises(FailJson) as err:
        run_module(kafka_mirror, args)
    msg = err.value.result["msg"]
    assert "nobk.%s (target topic of %s) is missing on the target" % (topic, topic) in msg
    assert "same target_prefix/target_suffix" in msg and "nothing was copied" in msg
    assert map_topic not in target_topic_names(clusters) and not progress.exists()
    assert read_side(clusters, "target", topic, 2) == {0: [], 1: []}
    check = run_module(kafka_mirror, args, check_mode=True)
    assert check["missing_target_topics"] == ["nobk.%s" % topic] and check["records"] == 10
    assert any("would be created by topic sync" in w for w in check["warnings"])
    assert map_topic not in target_topic_names(clusters) and not progress.exists()


def test_one_offset_map_never_mixes_two_layouts(clusters, topics, unique):
    topic = unique("mirb-lay")
    topics.create("source", topic, 2, 2)
    first, second = "a.%s" % topic, "b.%s" % topic
    topics.create("target", first, 2, 2)
    topics.create("target", second, 2, 2)
    map_topic, other_map = unique("mirb-map"), unique("mirb-map2")
    topics.track("target", map_topic)
    topics.track("target", other_map)
    produce(clusters, topic, make_records(2, 20, seed=27))
    name = unique("n")
    assert run_module(kafka_mirror, params(clusters, map_topic, topics=[topic], name=name, target_prefix="a."))["records"] == 40
    map_before = load_from_topic(Cluster(clusters.target, "target"), map_topic).to_json()
    for check_mode in (True, False):
        with pytest.raises(FailJson) as err:
            run_module(kafka_mirror, params(clusters, map_topic, topics=[topic], name=name, target_prefix="b."),
                       check_mode=check_mode)
        msg = err.value.result["msg"]
        assert "already records %s copied into %s, this run would copy it into %s" % (topic, first, second) in msg
        assert "one offset map holds one target layout" in msg
        assert err.value.result["layout_conflicts"] == {topic: {"recorded": first, "requested": second}}
    assert read_side(clusters, "target", second, 2) == {0: [], 1: []}
    assert load_from_topic(Cluster(clusters.target, "target"), map_topic).to_json() == map_before
    # Kept apart: the other layout with its own offset map copies everything, and the first is untouched.
    res = run_module(kafka_mirror, params(clusters, other_map, topics=[topic], name=name + "-b", target_prefix="b."))
    assert res["records"] == 40
    assert_backup_copy(clusters, topic, second, 2, other_map)
    assert_backup_copy(clusters, topic, first, 2, map_topic)
