"""kafka_group_sync's plain-Python core without Kafka: options, policies, offsets, diff."""

import inspect
import re

import pytest

from ansible_collections.kafkaops.migration.plugins.module_utils import admin, groups
from ansible_collections.kafkaops.migration.plugins.module_utils.groups import (
    PartitionError,
    Rule,
    check_in_log,
    group_diff,
    normalize_request,
    parse_timestamp,
    plan_partition,
)
from ansible_collections.kafkaops.migration.plugins.module_utils.offsetmap import OffsetMap, progress_record

BOUNDS = {"start": 5, "end": 40, "stable": 37, "at_time": 20}


def params(**kw):
    base = {"groups": None, "group_pattern": None, "policy": "earliest", "timestamp": None, "fallback": "earliest"}
    base.update(kw)
    return base


# -- names and timestamps ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["orders", "a.b_c-D9", "x" * 249])
def test_legal_topic_names(name):
    assert groups.topic_name_error(name) is None


@pytest.mark.parametrize("name", ["", ".", "..", "a b", "a:b", "ä", "x" * 250, None, 5])
def test_illegal_topic_names(name):
    assert groups.topic_name_error(name)


@pytest.mark.parametrize("name", ["", "  ", " lead", "trail ", "tab\there", None])
def test_bad_group_names(name):
    assert groups.group_name_error(name)


def test_group_names_may_hold_characters_topics_may_not():
    assert groups.group_name_error("billing:v2 (eu)") is None


@pytest.mark.parametrize("value, ms", [
    (1764309600000, 1764309600000),
    ("1764309600000", 1764309600000),
    ("2025-11-28T06:00:00Z", 1764309600000),
    ("2025-11-28T07:00:00+01:00", 1764309600000),
    ("2025-11-28T06:00:00.250Z", 1764309600250),
    (None, None),
])
def test_parse_timestamp(value, ms):
    assert parse_timestamp(value) == ms


@pytest.mark.parametrize("value, message", [
    ("2025-11-28T06:00:00", "no time zone"),
    ("yesterday", "neither milliseconds"),
    ("-5", "before 1970"),
    (True, "milliseconds since the epoch"),
])
def test_bad_timestamps(value, message):
    with pytest.raises(ValueError, match=message):
        parse_timestamp(value)


# -- options -> requests -------------------------------------------------------------------------
def test_group_and_topic_overrides_resolve_in_order():
    reqs, default, errors = normalize_request(params(
        policy="translate", fallback="fail",
        groups=[{"name": "a"},
                {"name": "b", "policy": "timestamp", "timestamp": "1000", "topics": ["t2", "t1", "t1"],
                 "topic_policies": [{"topic": "t2", "policy": "latest"}]}]))
    assert errors == []
    a, b = reqs
    assert a.topics is None and a.rule_for("x") == Rule("translate", None, "fail")
    assert b.topics == ["t1", "t2"]
    assert b.rule_for("t1") == Rule("timestamp", 1000, "fail")
    assert b.rule_for("t2") == Rule("latest", 1000, "fail")


def test_without_groups_the_pattern_is_used():
    reqs, default, errors = normalize_request(params(group_pattern="^shop-", policy="latest"))
    assert reqs is None and errors == [] and default.policy == "latest"


def test_every_bad_option_is_reported_at_once():
    errors = normalize_request(params(groups=[
        {"name": ""}, {"name": "ok", "topics": ["bad topic"]}, {"name": "ok"},
        {"name": "ts", "policy": "timestamp"},
        {"name": "tp", "topics": ["a"], "topic_policies": [{"topic": "b"}, {"topic": "a", "timestamp": "soon"}]},
        {"name": "empty", "topics": []},
    ]))[2]
    text = "\n".join(errors)
    assert "groups[0]: group name must be a non-empty string" in text
    assert "group 'ok': topic name 'bad topic' is illegal" in text
    assert "group 'ok' is listed twice" in text
    assert "group 'ts': policy timestamp needs a timestamp" in text
    assert "topic_policies names topic 'b', which is not in its topics" in text
    assert "group 'tp' topic 'a': timestamp 'soon' is neither" in text
    assert "group 'empty': topics is empty" in text
    assert len(errors) == 7


def test_bad_pattern_and_empty_group_list():
    assert "not a regular expression" in normalize_request(params(group_pattern="("))[2][0]
    assert "groups is empty" in normalize_request(params(groups=[]))[2][0]


def test_default_timestamp_policy_needs_a_timestamp():
    errors = normalize_request(params(policy="timestamp", groups=[{"name": "g"}]))[2]
    assert errors == ["group 'g': policy timestamp needs a timestamp"]


# -- plan_partition ------------------------------------------------------------------------------
def test_earliest_latest_and_timestamp():
    assert plan_partition(Rule("earliest"), 12, BOUNDS) == (5, "earliest")
    assert plan_partition(Rule("latest"), None, BOUNDS) == (37, "latest")   # last stable, not the high watermark
    assert plan_partition(Rule("timestamp", 1), None, BOUNDS) == (20, "timestamp")
    assert plan_partition(Rule("timestamp", 1), None, dict(BOUNDS, at_time=-1)) == (37, "timestamp-none-after")


def _map():
    omap = OffsetMap()
    omap.add_record(progress_record("orders", 0, [(10, 5), (11, 6), (14, 7)], 15, 9)[1])
    return omap


def test_translate_uses_the_map():
    omap = _map()
    assert plan_partition(Rule("translate"), 11, BOUNDS, omap, "orders", 0) == (6, "translate-mapped")
    assert plan_partition(Rule("translate"), 12, BOUNDS, omap, "orders", 0) == (7, "translate-gap")
    assert plan_partition(Rule("translate"), 15, BOUNDS, omap, "orders", 0) == (9, "translate-after_copied")


def test_translate_errors_become_partition_errors():
    omap = _map()
    with pytest.raises(PartitionError, match="below the first copied offset 10"):
        plan_partition(Rule("translate"), 3, BOUNDS, omap, "orders", 0)
    with pytest.raises(PartitionError, match="no entry for orders:1"):
        plan_partition(Rule("translate"), 3, BOUNDS, omap, "orders", 1)
    with pytest.raises(PartitionError, match="needs an offset map"):
        plan_partition(Rule("translate"), 3, BOUNDS, None, "orders", 0)


@pytest.mark.parametrize("fallback, expected", [("earliest", (5, "fallback-earliest")), ("latest", (37, "fallback-latest"))])
def test_translate_without_a_source_commit_uses_the_fallback(fallback, expected):
    # The map is not even consulted: nothing to translate.
    assert plan_partition(Rule("translate", None, fallback), None, BOUNDS, None, "orders", 0) == expected


def test_fallback_fail():
    with pytest.raises(PartitionError, match="no committed offset here and fallback is fail"):
        plan_partition(Rule("translate", None, "fail"), None, BOUNDS, _map(), "orders", 0)


def test_fallback_only_applies_to_translate():
    assert plan_partition(Rule("earliest", None, "fail"), None, BOUNDS) == (5, "earliest")


def test_offsets_outside_the_log():
    assert check_in_log(40, BOUNDS) is None
    assert check_in_log(5, BOUNDS) is None
    assert "beyond the target log end 40" in check_in_log(41, BOUNDS)
    assert "below the target log start 5" in check_in_log(4, BOUNDS)


# -- diff ----------------------------------------------------------------------------------------
def test_group_diff_shows_current_and_new_offsets():
    rows = [{"topic": "a", "partition": 0, "current_offset": 3, "offset": 7},
            {"topic": "a", "partition": 1, "current_offset": None, "offset": 0},
            {"topic": "b", "partition": 0, "current_offset": 9, "offset": 2}]
    before, after = group_diff(rows)
    assert before == {"a": {"0": 3}, "b": {"0": 9}}
    assert after == {"a": {"0": 7, "1": 0}, "b": {"0": 2}}


# -- translations that need a look at the source log ---------------------------------------------
def _late_map():
    """The copy's first run starts at source 8 (4-7 were aborted records and markers) and it has
    read up to source 11 (the last record); the target holds the copies at 0-2, marker at 3."""
    omap = OffsetMap()
    omap.add_record(progress_record("orders", 0, [(8, 0), (9, 1), (10, 2)], 11, 3)[1])
    return omap


def test_source_check_windows():
    omap = _late_map()
    assert groups.source_check_window(omap, "orders", 0, 4) == ("below", 4, 8)
    assert groups.source_check_window(omap, "orders", 0, 8) is None
    assert groups.source_check_window(omap, "orders", 0, 11) is None
    assert groups.source_check_window(omap, "orders", 0, 12) == ("past", 11, 12)
    assert groups.source_check_window(omap, "orders", 0, None) is None
    assert groups.source_check_window(omap, "orders", 1, 4) is None      # unknown partition: translate says so
    only_resume = OffsetMap()
    only_resume.add_record(progress_record("orders", 0, [], 6, 2)[1])
    assert groups.source_check_window(only_resume, "orders", 0, 3) == ("below", 3, 6)


def test_below_the_first_run_with_nothing_committed_in_between_starts_at_the_first_copy():
    rule = Rule("translate")
    assert plan_partition(rule, 4, BOUNDS, _late_map(), "orders", 0, found=None) == (0, "translate-gap")
    with pytest.raises(PartitionError, match="still holds committed record 5"):
        plan_partition(rule, 4, BOUNDS, _late_map(), "orders", 0, found=5)
    # Not checked: the map's own rule (an error, never a guess).
    with pytest.raises(PartitionError, match="below the first copied offset 8"):
        plan_partition(rule, 4, BOUNDS, _late_map(), "orders", 0)


def test_below_the_resume_point_of_a_map_without_runs():
    omap = OffsetMap()
    omap.add_record(progress_record("orders", 0, [], 6, 2)[1])
    assert plan_partition(Rule("translate"), 3, BOUNDS, omap, "orders", 0, found=None) == (2, "translate-after_copied")


def test_past_the_resume_point():
    rule = Rule("translate")
    # Only the trailing commit marker between the resume point and the committed offset: fine.
    assert plan_partition(rule, 12, BOUNDS, _late_map(), "orders", 0, found=None) == (3, "translate-after_copied")
    # A committed record there: the group processed data the copy has not reached yet.
    with pytest.raises(PartitionError, match="source record 11 was not copied yet"):
        plan_partition(rule, 14, BOUNDS, _late_map(), "orders", 0, found=11)


def test_long_problem_lists_are_summarised_in_the_message():
    problems = ["problem %d" % i for i in range(25)]
    text = groups._summary(problems)
    assert text.startswith("problem 0; problem 1;")
    assert "problem 9;" in text and "problem 10" not in text
    assert text.endswith("and 15 more (25 problems in all, listed in 'problems')")
    assert groups._summary(["only one"]) == "only one"


# -- never rewind: which partitions are written ----------------------------------------------------
def test_overwrite_defaults_to_false_and_is_per_group():
    reqs, default, errors = normalize_request(params(groups=[{"name": "a"}, {"name": "b", "overwrite": True}]))
    assert errors == [] and [r.overwrite for r in reqs] == [False, True]
    reqs = normalize_request(params(overwrite=True, groups=[{"name": "a"}, {"name": "b", "overwrite": False}]))[0]
    assert [r.overwrite for r in reqs] == [True, False]
    errors = normalize_request(params(overwrite="yes", groups=[{"name": "a", "overwrite": 1}]))[2]
    assert errors == ["overwrite must be true or false, got 'yes'", "group 'a': overwrite must be true or false, got 1"]


@pytest.mark.parametrize("current, offset, overwrite, expected", [
    (None, 0, False, ("set", True)),          # nothing committed on the target: written
    (None, 0, True, ("set", True)),
    (120, 0, False, ("kept", False)),         # consumers ran on the target: never rewound
    (120, 300, False, ("kept", False)),       # nor moved forward past records they have not processed
    (120, 120, False, ("kept", False)),
    (120, 120, True, ("unchanged", False)),
    (120, 0, True, ("overwritten", True)),
])
def test_partition_status(current, offset, overwrite, expected):
    assert groups.partition_status(current, offset, overwrite) == expected


# -- check mode preview of a fresh set-up ------------------------------------------------------------
def test_a_topic_topic_sync_would_create_is_an_empty_log():
    b = groups.empty_log_bounds([1000, 2000])
    assert (b["start"], b["end"], b["stable"]) == (0, 0, 0)
    b = dict(b, at_time=b["at"][1000])
    assert plan_partition(Rule("earliest"), 7, b) == (0, "earliest")
    assert plan_partition(Rule("latest"), 7, b) == (0, "latest")
    assert plan_partition(Rule("timestamp", 1000), None, b) == (0, "timestamp-none-after")
    assert check_in_log(0, b) is None


def test_check_mode_translate_without_an_offset_map_plans_the_fallback():
    assert groups.plan_without_map(Rule("translate", None, "earliest"), 12, BOUNDS) == (5, "fallback-earliest")
    assert groups.plan_without_map(Rule("translate", None, "latest"), None, BOUNDS) == (37, "fallback-latest")
    assert groups.plan_without_map(Rule("translate", None, "fail"), 12, BOUNDS) == (None, "translate-pending")
    with pytest.raises(PartitionError, match="fallback is fail"):
        groups.plan_without_map(Rule("translate", None, "fail"), None, BOUNDS)


def test_diff_shows_kept_partitions_as_not_changed():
    out = [{"name": "g", "partitions": [
        {"topic": "a", "partition": 0, "current_offset": None, "offset": 4, "status": "set", "changed": True},
        {"topic": "a", "partition": 1, "current_offset": 9, "offset": 0, "status": "kept", "changed": False},
        {"topic": "a", "partition": 2, "current_offset": 3, "offset": 3, "status": "kept", "changed": False}]}]
    diff = groups._diff(out, {"g": [("a", 0, 4)]})
    assert diff["before"] == {"g": {}} and diff["after"] == {"g": {"a": {"0": 4}}}
    assert diff["prepared"].startswith("partitions already committed on the target, left as they are:\n")
    assert "g a:1 kept at 9 (not changed; the policy gives 0; overwrite: true rewrites it)" in diff["prepared"]
    assert "a:2" not in diff["prepared"]        # kept at the policy's own offset: nothing to say
    assert groups._diff([dict(out[0], partitions=out[0]["partitions"][2:])], {}) == {"before": {}, "after": {}}


def test_module_documents_every_option_of_its_argument_spec():
    import yaml
    from ansible_collections.kafkaops.migration.plugins.modules import kafka_group_sync as mod
    doc = yaml.safe_load(mod.DOCUMENTATION)["options"]
    spec = mod.argument_spec()
    for name in ("overwrite", "fail_on_active", "groups"):
        assert doc[name]["type"] == spec[name]["type"]
    assert doc["overwrite"]["default"] is False and spec["overwrite"]["default"] is False
    assert doc["groups"]["suboptions"]["overwrite"]["type"] == "bool"
    assert "default" not in spec["groups"]["options"]["overwrite"]   # None: the module's overwrite applies
    returned = yaml.safe_load(mod.RETURN)
    assert "skipped" not in returned and "active_groups" in returned
    reserved = {"skipped", "failed", "changed", "msg", "results", "invocation", "rc", "stdout", "stderr", "item",
                "exception", "warnings", "deprecations"}
    assert not reserved & set(returned)


# -- reads through the admin layer ---------------------------------------------------------------------
def test_bounds_ask_one_list_offsets_per_kind_and_one_per_distinct_timestamp():
    tps = [("b", 0), ("a", 1), ("a", 0), ("a", 0)]
    wanted = groups.bounds_kinds(tps, {("a", 0): {1000, 2000}, ("b", 0): {1000}})
    assert sorted(wanted, key=str) == sorted(["start", "end", "stable", ("at", 1000), ("at", 2000)], key=str)
    for kind in ("start", "end", "stable"):
        assert wanted[kind] == [("a", 0), ("a", 1), ("b", 0)]
    assert wanted[("at", 1000)] == [("a", 0), ("b", 0)]
    assert wanted[("at", 2000)] == [("a", 0)]
    assert groups.bounds_kinds([], {("a", 0): {1}}) == {}


def test_bounds_are_shaped_per_partition():
    offsets = {"start": {("a", 0): 2, ("a", 1): 0}, "end": {("a", 0): 9, ("a", 1): 4},
               "stable": {("a", 0): 7, ("a", 1): 4}, ("at", 1000): {("a", 0): -1}}
    b = groups.bounds_from([("a", 0), ("a", 1)], offsets)
    assert b[("a", 0)] == {"start": 2, "end": 9, "stable": 7, "at": {1000: -1}}
    assert b[("a", 1)] == {"start": 0, "end": 4, "stable": 4, "at": {}}


def test_discovered_groups_leave_out_the_collections_own_and_match_anywhere():
    ids = ["shop-a", "eu-shop-b", "kafkaops-migration-target-reader", "kafkaops-mirror-backup", "billing", "shop-a"]
    assert admin.select_groups(ids) == ["billing", "eu-shop-b", "shop-a"]
    assert admin.select_groups(ids, "shop") == ["eu-shop-b", "shop-a"]
    assert admin.select_groups(ids, "^shop-") == ["shop-a"]
    assert admin.select_groups(ids, "mirror") == []
    with pytest.raises(admin.KafkaOpsError, match="group_pattern"):
        admin.select_groups(ids, "(")


def test_group_sync_has_no_reads_or_retries_of_its_own():
    # Every read goes through admin.ClusterView: one retry policy, one unknown-topic rule. What stays
    # here writes (alter offsets) or scans a log (first_committed_records), neither of which
    # ClusterView offers.
    text = inspect.getsource(groups)
    for call in ("list_offsets", "describe_topics", "describe_consumer_groups", "list_consumer_group_offsets",
                 "list_consumer_groups", "list_topics", "_RETRIABLE", "UNKNOWN_TOPIC", "time.sleep"):
        assert not re.search(r"\b%s\b" % re.escape(call), text), call
