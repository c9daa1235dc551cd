"""kafka_spec_facts core without Kafka: traffic arithmetic, disk, catalogue matching, preflight."""

import pytest

from ansible_collections.kafkaops.migration.plugins.module_utils import alibaba as ali
from ansible_collections.kafkaops.migration.plugins.module_utils import spec as s
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import KafkaOpsError
from ansible_collections.kafkaops.migration.plugins.module_utils.editions import CATALOGUE, EDITION_KEYS

MIB = 1024 * 1024


# -- names -----------------------------------------------------------------------------------------
# (internal topics and topic selection are the admin layer's one rule: tests/unit/test_admin.py)
def test_metric_collisions_group_dot_and_underscore_names():
    assert s.metric_collisions(["a.b", "a_b", "c", "x.y.z", "x_y.z", "x_y_z"]) == [["a.b", "a_b"], ["x.y.z", "x_y.z", "x_y_z"]]
    assert s.metric_collisions(["a.b", "c_d"]) == []


# -- traffic ---------------------------------------------------------------------------------------
def test_rates_and_peak_from_offsets_and_log_size_growth():
    a0, a1 = ("a", 0), ("a", 1)
    samples = [(0.0, {a0: 100, a1: 100}), (1.0, {a0: 110, a1: 110}), (2.0, {a0: 170, a1: 150}), (4.0, {a0: 180, a1: 160})]
    start = {a0: 0, a1: 0}
    size0 = {a0: 10000, a1: 10000}
    size1 = {a0: 10000 + 80 * 100, a1: 10000 + 60 * 100}  # 100 bytes per message
    per_topic, total = s.traffic_from_samples(samples, start, start, size0, size1)
    a = per_topic["a"]
    assert a["messages_per_s"] == pytest.approx(140 / 4.0)
    assert a["bytes_per_s"] == pytest.approx(14000 / 4.0)
    assert a["bytes_source"] == "log size growth"
    assert a["average_message_bytes"] == pytest.approx(100)
    # busiest interval is 1 s -> 2 s: 100 messages in 1 s
    assert total["peak_messages_per_s"] == pytest.approx(100)
    assert total["peak_bytes_per_s"] == pytest.approx(10000)
    assert total["window_s"] == 4.0 and total["samples"] == 4


def test_sizes_pair_with_the_offsets_read_around_them_not_with_the_samples():
    p = ("t", 0)
    samples = [(0.0, {p: 0}), (10.0, {p: 1000})]
    # sizes were read a little after each sample, when 50 more messages had been written
    per_topic, total = s.traffic_from_samples(samples, {p: 0}, {p: 0}, {p: 5000}, {p: 105000}, {p: 50.0}, {p: 1050.0})
    t = per_topic["t"]
    assert t["average_message_bytes"] == pytest.approx(100.0)
    assert t["bytes_per_s"] == pytest.approx(100 * 100.0)
    assert t["bytes_source"] == "log size growth"


def test_deleted_segment_falls_back_to_average_retained_message_size():
    p = ("t", 0)
    samples = [(0.0, {p: 1000}), (2.0, {p: 1200})]
    # log start moved (a segment was deleted): size shrank although 200 messages were written
    per_topic, total = s.traffic_from_samples(samples, {p: 0}, {p: 500}, {p: 50000}, {p: 35000})
    t = per_topic["t"]
    assert t["bytes_source"] == "messages/s x average retained message size"
    assert t["average_message_bytes"] == pytest.approx(35000 / 700.0)
    assert t["bytes_per_s"] == pytest.approx(100 * 50.0)
    assert total["bytes_per_s"] == pytest.approx(5000)


def test_unknown_sizes_leave_bytes_unknown_but_messages_measured():
    p = ("t", 0)
    per_topic, total = s.traffic_from_samples([(0.0, {p: 0}), (1.0, {p: 10})])
    assert per_topic["t"]["messages_per_s"] == 10
    assert per_topic["t"]["bytes_per_s"] is None
    assert total["bytes_per_s"] is None and total["peak_bytes_per_s"] is None


def test_idle_topic_has_zero_bytes_even_without_sizes_delta():
    p = ("idle", 0)
    per_topic, total = s.traffic_from_samples([(0.0, {p: 5}), (1.0, {p: 5})], {p: 0}, {p: 0}, {p: 500}, {p: 500})
    assert per_topic["idle"]["bytes_per_s"] == 0.0
    assert total["peak_bytes_per_s"] == 0.0


def test_one_sample_is_not_a_rate():
    with pytest.raises(ValueError):
        s.traffic_from_samples([(0.0, {})])


# -- disk --------------------------------------------------------------------------------------
def test_disk_is_rate_times_retention_when_larger_than_measured():
    value, reason = s.topic_disk_bytes(1000.0, str(3600 * 1000), "-1", 3, 5000, "delete")
    assert value == pytest.approx(3600 * 1000.0)
    assert "x retention 1.0 h" in reason


def test_disk_is_measured_size_when_larger():
    value, reason = s.topic_disk_bytes(1.0, "1000", "-1", 1, 123456, "delete")
    assert value == 123456 and reason.startswith("measured size")


def test_retention_bytes_caps_the_time_estimate():
    value, reason = s.topic_disk_bytes(1000.0, str(86400 * 1000), str(1000000), 4, 0, "delete")
    assert value == 4000000 and "retention.bytes" in reason


def test_compacted_and_unlimited_topics_use_the_measured_size():
    assert s.topic_disk_bytes(1000.0, "604800000", "-1", 1, 777, "compact")[0] == 777
    value, reason = s.topic_disk_bytes(10.0, "-1", "-1", 1, 900, "delete")
    assert value == 900 and "unlimited" in reason and "864000 B/day" in reason


# -- sizing and matching --------------------------------------------------------------------------
def _topics(n, partitions=6, retention_h=24, rate=0.0, size=0, mmb=1048588):
    out = []
    for i in range(n):
        disk = s.topic_disk_bytes(rate, str(int(retention_h * 3600000)), "-1", partitions, size, "delete")[0]
        out.append({"name": "t%d" % i, "partitions": partitions, "retention_ms": str(int(retention_h * 3600000)),
                    "cleanup_policy": "delete", "max_message_bytes": str(mmb), "disk_bytes": disk, "replication_factor": 3})
    return out


def _traffic(bps, peak):
    return {"window_s": 10.0, "samples": 11, "bytes_per_s": bps, "peak_bytes_per_s": peak}


def test_needs_apply_headroom_to_the_measured_peak():
    needs = s.sizing_needs(_topics(2), _traffic(10 * MIB, 16 * MIB), 8 * MIB, 1.5)
    assert needs["write_mb_s"]["value"] == pytest.approx(24.0)
    assert needs["read_mb_s"]["value"] == pytest.approx(12.0)
    assert "x headroom 1.50" in needs["write_mb_s"]["reason"]
    assert needs["partitions"]["value"] == 12 and needs["topics"]["value"] == 2


def test_headroom_below_one_is_refused():
    with pytest.raises(KafkaOpsError):
        s.sizing_needs(_topics(1), None, None, 0.9)


def test_smallest_standard_spec_that_carries_the_traffic_is_chosen():
    needs = s.sizing_needs(_topics(10), _traffic(10 * MIB, 16 * MIB), 8 * MIB, 1.5)  # 24 MB/s with headroom
    rec = s.recommend(needs, CATALOGUE)
    assert rec["fits"] is True
    assert rec["edition"] == "alikafka-standard-hw.3xlarge"  # 2xlarge carries 20 MB/s only
    assert rec["spec"] == "alikafka.hw.3xlarge"
    assert rec["figures"]["write_mb_s"]["limit"] == 30
    assert rec["figures"]["extra_partitions"]["value"] == 0


def test_long_retention_rules_out_standard_edition():
    needs = s.sizing_needs(_topics(3, retention_h=24 * 14), _traffic(MIB, MIB), 0.0, 1.5)
    rec = s.recommend(needs, CATALOGUE)
    assert rec["edition_family"] == "professional"
    assert rec["by_edition"]["standard"]["fits"] is False
    assert "retention 336.0 h" in rec["by_edition"]["standard"]["largest_misfit"]["reasons"][0]


def test_partitions_beyond_the_included_ones_are_extra_and_minimum_per_topic_applies():
    topics = _topics(700, partitions=1) + _topics(1, partitions=600)
    needs = s.sizing_needs(topics, _traffic(MIB, MIB), 0.0, 1.2)
    rec = s.recommend(needs, CATALOGUE, edition="standard")
    # Standard (cloud storage) needs 2 partitions per topic: 700 x 2 + 600
    assert rec["figures"]["partitions"]["value"] == 2000
    assert rec["figures"]["extra_partitions"]["value"] == 1000
    assert "minimum of 2 partitions" in rec["figures"]["partitions"]["reason"]


def test_disk_counts_replicas_only_where_the_edition_says_so():
    topics = _topics(1, retention_h=24, rate=1000.0)  # 86.4 MB for one copy
    needs = s.sizing_needs(topics, _traffic(1000.0, 1000.0), 0.0, 1.0)
    std = s.recommend(needs, CATALOGUE, edition="standard")
    pro = s.recommend(needs, CATALOGUE, edition="professional")
    one_copy = 86400000 / float(1024 ** 3)
    assert pro["figures"]["disk_gb"]["value"] == pytest.approx(one_copy, abs=0.001)
    assert std["figures"]["disk_gb"]["value"] == pytest.approx(3 * one_copy, abs=0.002)
    assert "x replication factor 3" in std["figures"]["disk_gb"]["reason"]


def test_traffic_beyond_every_alibaba_spec_falls_to_self_managed():
    needs = s.sizing_needs(_topics(1), _traffic(20000 * MIB, 20000 * MIB), None, 1.0)
    rec = s.recommend(needs, CATALOGUE)
    assert rec["edition"] == "self-managed"
    assert rec["by_edition"]["professional"]["largest_misfit"]["name"] == "alikafka-professional-hw2.1000xlarge"
    assert rec["figures"]["read_mb_s"]["value"] is None


def test_nothing_fits_in_a_restricted_edition():
    needs = s.sizing_needs(_topics(1), _traffic(500 * MIB, 500 * MIB), None, 1.0)
    rec = s.recommend(needs, CATALOGUE, edition="standard")
    assert rec["fits"] is False and rec["edition"] is None
    assert "write traffic 500.000 MB/s exceeds 120 MB/s" in rec["by_edition"]["standard"]["largest_misfit"]["reasons"]


def test_unmeasured_traffic_does_not_block_a_match():
    needs = s.sizing_needs(_topics(1), None, None, 1.5)
    rec = s.recommend(needs, CATALOGUE)
    assert rec["edition"] == "alikafka-standard-hw.2xlarge"
    assert rec["figures"]["write_mb_s"]["value"] is None
    assert "not measured" in rec["figures"]["write_mb_s"]["reason"]


def test_edition_matches_name_family_or_spec_and_unknown_is_refused():
    assert [e["name"] for e in s.filter_editions(CATALOGUE, "alikafka.hw.6xlarge")] == [
        "alikafka-standard-hw.6xlarge", "alikafka-professional-hw.6xlarge"]
    assert len(s.filter_editions(CATALOGUE, "self-managed")) == 1
    with pytest.raises(KafkaOpsError) as err:
        s.filter_editions(CATALOGUE, "gold")
    assert "not in the catalogue" in err.value.msg and "professional" in err.value.msg


def test_custom_catalogue_is_validated_and_used_in_order():
    cat = s.normalise_editions([{"name": "small", "max_write_mb_s": 5, "max_partitions": 100},
                                {"name": "big", "max_write_mb_s": 50, "max_partitions": 1000, "disk_counts_replicas": True}])
    needs = s.sizing_needs(_topics(20), _traffic(8 * MIB, 8 * MIB), None, 1.0)
    rec = s.recommend(needs, cat)
    assert rec["edition"] == "big"
    assert rec["by_edition"]["small"]["largest_misfit"]["reasons"] == [
        "write traffic 8.000 MB/s exceeds 5 MB/s", "120 partitions exceed the maximum 100"]
    for bad, fragment in [([{"max_partitions": 1}], "with a name"), ([{"name": "x", "colour": 1}], "unknown keys colour"),
                          ([{"name": "x", "max_partitions": "many"}], "non-negative number"),
                          ([{"name": "x"}, {"name": "x"}], "duplicate"), ([], "non-empty")]:
        with pytest.raises(KafkaOpsError) as err:
            s.normalise_editions(bad)
        assert fragment in err.value.msg


def test_catalogue_entries_are_complete_and_ordered_by_traffic():
    names = set()
    for e in CATALOGUE:
        assert set(e) == set(EDITION_KEYS)
        assert e["name"] not in names
        names.add(e["name"])
        assert e["source"]
    for fam in ("standard", "professional", "professional-high-read"):
        rates = [e["max_write_mb_s"] for e in CATALOGUE if e["edition"] == fam]
        assert rates == sorted(rates) and len(rates) >= 5
        assert all(e["included_partitions"] <= e["max_partitions"] for e in CATALOGUE if e["edition"] == fam)
    assert CATALOGUE[-1]["name"] == "self-managed"


# -- preflight -----------------------------------------------------------------------------------
def _src(name, partitions=3, rf=3, retention_h=24, mmb=1048588, policy="delete"):
    return {"name": name, "partitions": partitions, "replication_factor": rf, "retention_ms": str(int(retention_h * 3600000)),
            "max_message_bytes": str(mmb), "cleanup_policy": policy, "configs": {}}


def test_preflight_reports_clashes_collisions_and_limits():
    src = [_src("orders", 6), _src("pay.ments", 3), _src("audit", 2, retention_h=24 * 30), _src("big", 1, mmb=20 * MIB)]
    target = {"brokers": 2, "topics": {"orders": 12, "pay_ments": 3, "other": 100}}
    limits = {"max_partitions": 110, "max_topics": None, "max_retention_hours": 168, "max_message_bytes": 10 * MIB,
              "min_partitions_per_topic": 2}
    res = s.preflight_checks(src, target, limits)
    kinds = sorted(p["kind"] for p in res["problems"])
    assert kinds == ["message_size", "metric_name_collision", "partitions", "partitions_limit", "replication_factor", "retention"]
    assert res["fits"] is False
    assert res["clashes"] == [{"topic": "orders", "source_partitions": 6, "target_partitions": 12,
                               "detail": "target has more partitions (12 > 6): keyed records would land in other partitions"}]
    assert res["metric_collisions"] == [["pay.ments", "pay_ments"]]
    # new: pay.ments 3 + audit 2 + big raised to 2 = 7; existing 115
    assert res["new_partitions"] == 7 and res["partitions_after"] == 122
    rf = [p for p in res["problems"] if p["kind"] == "replication_factor"][0]
    assert rf["severity"] == "warning" and rf["count"] == 4


def test_preflight_without_limits_only_checks_what_kafka_itself_refuses():
    res = s.preflight_checks([_src("a", 3, rf=1), _src("b", 3, rf=1)], {"brokers": 3, "topics": {"b": 1}}, {})
    assert res["fits"] is True
    assert res["clashes"][0]["detail"].startswith("target has fewer partitions")
    assert res["partitions_after"] == 4 and res["topics_after"] == 2


def test_preflight_checks_traffic_against_explicit_limits():
    needs = s.sizing_needs([dict(_src("a"), disk_bytes=0)], _traffic(30 * MIB, 30 * MIB), None, 1.0)
    res = s.preflight_checks([_src("a", rf=1)], {"brokers": 3, "topics": {}}, {"max_write_mb_s": 20}, needs)
    assert [p["kind"] for p in res["problems"]] == ["write_mb_s"] and res["fits"] is False


def test_version_tuple_and_kafka_python_config_keep_secrets_in_place():
    assert s.version_tuple("3.9-IV0") == (3, 9) and s.version_tuple(None) is None
    conf = s.kafka_python_config({"bootstrap_servers": "a:1,b:2", "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                                  "sasl_username": "u", "sasl_password": "p", "ssl_ca_location": "/ca", "ssl_check_hostname": False}, 4)
    assert conf["bootstrap_servers"] == ["a:1", "b:2"] and conf["request_timeout_ms"] == 4000
    assert conf["sasl_plain_password"] == "p" and conf["ssl_cafile"] == "/ca" and conf["ssl_check_hostname"] is False


# -- names on a target with a name rule (api: alibaba) ---------------------------------------------
def _names(rename=None, rule="underscore", name_rule="strict"):
    return ali.TopicNames(rename, rule, name_rule)


def test_name_checks_rename_dotted_topics_by_default_and_warn_once():
    names, problems = s.name_checks(["orders.v1", "payments", "a.b.c"], ["billing"], _names(), ["orders.v1", "payments", "a.b.c", "x"])
    assert names == {"rule": "strict", "rename_rule": "underscore", "renamed": {"a.b.c": "a_b_c", "orders.v1": "orders_v1"},
                     "refused_topics": {}, "refused_groups": {}}
    assert [(p["kind"], p["severity"]) for p in problems] == [("topic_rename", "warning")]
    assert problems[0]["detail"].startswith("2 topics get new names on the target: a.b.c -> a_b_c, orders.v1 -> orders_v1")
    assert problems[0]["count"] == 2 and problems[0]["topics"] == ["a.b.c", "orders.v1"]
    one = s.name_checks(["orders.v1"], [], _names(), None)[1][0]["detail"]
    assert one.startswith("1 topic gets a new name on the target: orders.v1 -> orders_v1")


def test_name_checks_refuse_rule_makes_each_refused_topic_an_error_with_its_fix():
    names, problems = s.name_checks(["orders.v1", "ok-topic"], [], _names(rule="refuse"), ["orders.v1", "ok-topic"])
    assert names["renamed"] == {} and list(names["refused_topics"]) == ["orders.v1"]
    assert "has characters the service refuses" in names["refused_topics"]["orders.v1"]
    (err,) = problems
    assert err["kind"] == "topic_name" and err["severity"] == "error" and err["topic"] == "orders.v1"
    assert "rename map" in err["detail"] and "rename_rule underscore, which names it 'orders_v1'" in err["detail"]
    # a rename map entry fixes it; a map entry the target refuses is the map's fault
    fixed, none = s.name_checks(["orders.v1"], [], _names({"orders.v1": "orders-v1"}, rule="refuse"), None)
    assert fixed["renamed"] == {"orders.v1": "orders-v1"} and fixed["refused_topics"] == {}
    assert [p["kind"] for p in none] == ["topic_rename"]
    bad = s.name_checks(["orders.v1"], [], _names({"orders.v1": "o.v1"}), None)[0]["refused_topics"]["orders.v1"]
    assert "from the rename map" in bad


def test_name_checks_refuse_too_long_names_and_collisions_never_truncate():
    long_name = "t" * 60 + ".tail"
    names, problems = s.name_checks([long_name, "a.b", "a_b", "c.d"], [], _names(), [long_name, "a.b", "a_b", "c.d", "c_d"])
    refused = names["refused_topics"]
    assert "longer than 64" in refused[long_name]
    assert "would be the target of 'a_b' too" in refused["a.b"]
    assert "name of another source topic" in refused["c.d"]  # c_d is an unselected source topic
    assert names["renamed"] == {}  # refused topics are not renamed
    assert sorted(p["topic"] for p in problems if p["kind"] == "topic_name") == sorted(refused)


def test_name_checks_refuse_group_names_never_rename_them_and_say_how_to_fix():
    names, problems = s.name_checks([], ["team.billing", "ok_group", "ab", "g" * 65], _names(), [])
    assert sorted(names["refused_groups"]) == ["ab", "g" * 65, "team.billing"]
    assert "ok_group" not in names["refused_groups"]
    by = dict((p["group"], p) for p in problems)
    assert all(p["kind"] == "group_name" and p["severity"] == "error" for p in problems)
    assert "alibaba.name_rule dotted" in by["team.billing"]["detail"] and "'team_billing'" in by["team.billing"]["detail"]
    assert "group.id" in by["ab"]["detail"] and "dotted" not in by["ab"]["detail"]  # too short under any rule
    dotted = s.name_checks(["orders.v1"], ["team.billing"], _names(name_rule="dotted"), None)
    assert dotted[0]["refused_groups"] == {} and dotted[0]["renamed"] == {} and dotted[1] == []


def test_migrating_groups_leave_out_groups_committed_only_outside_the_selection():
    groups = [{"group_id": "a", "committed_partitions": 2, "topics": {"t": 0}},
              {"group_id": "elsewhere", "committed_partitions": 3, "topics": {}},
              {"group_id": "fresh", "committed_partitions": 0, "topics": {}},
              {"group_id": "unread", "lag": None, "error": "x"}]
    assert s.migrating_groups(groups) == ["a", "fresh", "unread"]
    assert s.migrating_groups(None) == []


def test_preflight_checks_compare_renamed_topics_with_the_target_names():
    src = [_src("orders.v1", 3, rf=1), _src("pay.v1", 2, rf=1)]
    target = {"brokers": 3, "topics": {"orders_v1": 6, "pay.v1": 2}}
    res = s.preflight_checks(src, target, {}, target_names={"orders.v1": "orders_v1", "pay.v1": "pay_v1"})
    assert res["clashes"] == [{"topic": "orders.v1", "target_topic": "orders_v1", "source_partitions": 3, "target_partitions": 6,
                               "detail": "target has more partitions (6 > 3): keyed records would land in other partitions"}]
    assert res["metric_collisions"] == [["pay.v1", "pay_v1"]]  # the renamed topic meets an existing one
    assert res["new_partitions"] == 2 and res["topics_after"] == 3 and res["fits"] is False
    same = s.preflight_checks(src, target, {})  # without names: the source names, as before
    assert [c["topic"] for c in same["clashes"]] == ["pay.v1"] and "target_topic" not in same["clashes"][0]
