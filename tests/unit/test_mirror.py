"""The built-in copy engine's pure logic: selection, option checks, resume points, reports (no Kafka)."""

import json

import pytest

from ansible_collections.kafkaops.migration.plugins.module_utils import mirror as m
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import KafkaOpsError
from ansible_collections.kafkaops.migration.plugins.module_utils.offsetmap import OffsetMap, progress_record

AVAILABLE = ["orders", "orders.eu", "orders.us", "payments", "__consumer_offsets", "kafkaops.mirror.offsets",
             "orders-dlq"]


def test_select_names_and_full_match_patterns():
    sel, missing = m.select_topics(AVAILABLE, ["payments"], [r"orders\.[a-z]+"], map_topic="kafkaops.mirror.offsets")
    assert sel == ["orders.eu", "orders.us", "payments"]
    assert missing == []


def test_patterns_skip_internal_and_map_topics_but_names_do_not():
    sel = m.select_topics(AVAILABLE, [], [".*"], map_topic="kafkaops.mirror.offsets")[0]
    assert "__consumer_offsets" not in sel and "kafkaops.mirror.offsets" not in sel
    assert sel == ["orders", "orders-dlq", "orders.eu", "orders.us", "payments"]
    sel = m.select_topics(AVAILABLE, ["__consumer_offsets"], [])[0]
    assert sel == ["__consumer_offsets"]


def test_excludes_and_missing_names():
    sel, missing = m.select_topics(AVAILABLE, ["nope", "orders"], ["orders.*"], [r".*-dlq", r"orders\.us"])
    assert sel == ["orders", "orders.eu"]
    assert missing == ["nope"]


def test_pattern_must_match_whole_name():
    sel = m.select_topics(AVAILABLE, [], ["orders"])[0]
    assert sel == ["orders"]


def test_defaults_are_filled_and_given_values_kept():
    p = m.params_with_defaults({"topics": ["a"], "mode": "follow", "duration": None, "extra": None})
    assert p["topics"] == ["a"] and p["mode"] == "follow"
    assert p["duration"] == 60.0 and p["name"] == "default"
    assert p["offset_map_topic"] == "kafkaops.mirror.offsets"
    assert "extra" in p


@pytest.mark.parametrize("change,fragment", [
    ({"name": "has space"}, "name must be"),
    ({"name": ""}, "name must be"),
    ({"topics": [], "topic_patterns": []}, "nothing is selected"),
    ({"topic_patterns": ["("]}, "not a valid regular expression"),
    ({"exclude_patterns": ["[a-"]}, "exclude_patterns"),
    ({"batch_records": 0}, "batch_records must be positive"),
    ({"batch_bytes": -1}, "batch_bytes must be positive"),
    ({"batch_seconds": 0}, "batch_seconds must be positive"),
    ({"mode": "follow", "duration": 0}, "duration must be positive"),
    ({"mode": "until_lag", "max_lag": -1}, "max_lag"),
    ({"mode": "sometimes"}, "mode must be one of"),
    ({"offset_map_topic": ""}, "offset_map_topic"),
])
def test_bad_options_are_refused(change, fragment):
    p = m.params_with_defaults(dict({"topics": ["a"]}, **change))
    with pytest.raises(KafkaOpsError) as err:
        m.check_params(p)
    assert fragment in err.value.msg


def test_good_options_pass():
    m.check_params(m.params_with_defaults({"topic_patterns": [".*"], "name": "backup-1.eu_x"}))


def _plan(parts):
    plan = m.Plan()
    plan.topics = sorted(set(part[0] for part in parts))
    plan.map_exists = True
    for topic, p, low, end in parts:
        st = m.PartitionState(topic, p)
        st.low, st.end = low, end
        plan.partitions[(topic, p)] = st
    return plan


def _omap(*records):
    omap = OffsetMap()
    for topic, part, pairs, s_next, t_next in records:
        omap.add_record(progress_record(topic, part, pairs, s_next, t_next)[1])
    return omap


def test_resume_points_come_from_the_map_or_the_log_start():
    plan = _plan([("a", 0, 0, 100), ("a", 1, 5, 50), ("b", 0, 0, 0)])
    omap = _omap(("a", 0, [(0, 0), (1, 1)], 2, 2), ("a", 0, [(2, 3), (3, 4)], 40, 5))
    m.apply_resume_points(plan, omap)
    a0, a1, b0 = plan.partitions[("a", 0)], plan.partitions[("a", 1)], plan.partitions[("b", 0)]
    assert (a0.start, a0.resumed, a0.lag()) == (40, True, 60)
    assert (a1.start, a1.resumed, a1.lag()) == (5, False, 45)
    assert b0.done and b0.lag() == 0
    assert plan.pending() == 105


def test_resume_below_log_start_is_a_gap_and_fails():
    plan = _plan([("a", 0, 500, 900)])
    omap = _omap(("a", 0, [(0, 0)], 100, 1))
    with pytest.raises(KafkaOpsError) as err:
        m.apply_resume_points(plan, omap)
    assert "resumes at offset 100 but the source log now starts at 500" in err.value.msg


def test_check_mode_result_counts_pending_and_partitions():
    plan = _plan([("a", 0, 0, 10), ("a", 1, 0, 0), ("b", 0, 0, 7)])
    res = m.check_mode_result(plan, m.params_with_defaults({"topics": ["a", "b"]}), OffsetMap())
    assert res["records"] == 17 and res["partitions_to_copy"] == 2 and res["changed"] is True
    assert res["status"] == "check_mode"
    diff = m.diff_of(res)
    assert diff == {"before": {"a:0": 0, "a:1": 0, "b:0": 0}, "after": {"a:0": 10, "a:1": 0, "b:0": 7}}


def test_check_mode_nothing_to_do_is_unchanged():
    plan = _plan([("a", 0, 0, 10)])
    res = m.check_mode_result(plan, m.params_with_defaults({"topics": ["a"]}), _omap(("a", 0, [(9, 9)], 10, 10)))
    assert res["records"] == 0 and res["changed"] is False


def test_partition_lag_never_negative_and_unknown_without_end():
    st = m.PartitionState("a", 0)
    assert st.lag() is None
    st.next, st.end = 12, 10
    assert st.lag() == 0
    assert st.lag(end=20) == 8
    assert st.to_dict()["lag"] == 0


def test_transactional_id_is_stable_per_name():
    assert m.transactional_id("backup") == "kafkaops-mirror-backup"


def test_progress_file_is_replaced_atomically(tmp_path):
    path = tmp_path / "p.json"
    m.write_json_atomically(str(path), {"records": 1})
    m.write_json_atomically(str(path), {"records": 2})
    assert json.loads(path.read_text()) == {"records": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]


def test_cli_usage(capsys):
    assert m.cli_main(["prog"]) == 2
    assert "usage" in capsys.readouterr().err


def test_cli_reports_bad_options_as_json(tmp_path, capsys):
    conf = tmp_path / "c.json"
    conf.write_text(json.dumps({"source": {"bootstrap_servers": ["nohost"]}, "target": {"bootstrap_servers": ["a:1"]},
                                "topics": ["x"]}))
    assert m.cli_main(["prog", str(conf)]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["failed"] is True and "is not host:port" in out["msg"]
