"""The planning logic of kafka_topic_sync, from source/target descriptions (no Kafka)."""

import pytest

from ansible_collections.kafkaops.migration.plugins.module_utils import admin
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import KafkaOpsError
from ansible_collections.kafkaops.migration.plugins.module_utils.topics import (
    DEFAULT_DENY_CONFIGS,
    SyncOptions,
    denied,
    parse_replication_factor,
    plan,
    target_name_problems,
    target_replication_factor,
    topic_name_problem,
)


def src(partitions=3, rf=3, **configs):
    return {"partitions": partitions, "replication_factor": rf, "configs": dict(configs)}


def tgt(partitions=3, rf=2, configs=None, overrides=None):
    effective = {"retention.ms": "604800000", "cleanup.policy": "delete", "min.insync.replicas": "1"}
    effective.update(configs or {})
    effective.update(overrides or {})
    return {"partitions": partitions, "replication_factor": rf, "configs": effective, "overrides": dict(overrides or {})}


def cfg(**kw):
    """Config dicts with dotted keys: cfg(retention_ms="1") -> {"retention.ms": "1"}."""
    return dict((k.replace("_", "."), v) for k, v in kw.items())


# -- options ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("auto", "auto"), ("keep", "keep"), ("KEEP", "keep"), (2, 2), ("3", 3), (" 1 ", 1)])
def test_replication_factor_values(value, expected):
    assert parse_replication_factor(value) == expected


@pytest.mark.parametrize("value", ["many", 0, "0", -1, "-2", True, "2.5"])
def test_replication_factor_rejects(value):
    with pytest.raises(KafkaOpsError, match="replication_factor must be"):
        parse_replication_factor(value)


@pytest.mark.parametrize("mode, source_rf, brokers, expected", [
    ("auto", 3, 2, 2), ("auto", 1, 3, 1), ("auto", 3, 5, 3), ("keep", 3, 2, 3), (4, 3, 2, 4)])
def test_target_replication_factor(mode, source_rf, brokers, expected):
    assert target_replication_factor(mode, source_rf, brokers) == expected


def test_bad_regex_fails_with_option_name():
    with pytest.raises(KafkaOpsError, match="include: 'orders\\[' is not a valid regular expression"):
        SyncOptions(include=["orders["])
    with pytest.raises(KafkaOpsError, match="exclude"):
        SyncOptions(exclude=["(unclosed"])


def test_forcing_a_denied_config_fails():
    with pytest.raises(KafkaOpsError) as err:
        SyncOptions(config_overrides={"message.format.version": "2.8", "retention.ms": 1})
    assert "message.format.version" in err.value.msg and "retention.ms" not in err.value.msg
    assert err.value.details["denied"] == {"message.format.version": "message.format.version"}
    with pytest.raises(KafkaOpsError, match="confluent.tier.enable"):
        SyncOptions(config_overrides={"confluent.tier.enable": True})


def test_deny_list_can_be_replaced_or_extended():
    assert denied("confluent.placement.constraints", DEFAULT_DENY_CONFIGS) == "confluent.*"
    assert denied("retention.ms", DEFAULT_DENY_CONFIGS) is None
    replaced = SyncOptions(deny_configs=["retention.*"], config_overrides={"message.format.version": "3.0"})
    assert replaced.deny == ["retention.*"]
    extended = SyncOptions(extra_deny_configs=["unclean.leader.election.enable"])
    assert "message.format.version" in extended.deny and "unclean.leader.election.enable" in extended.deny
    with pytest.raises(KafkaOpsError):
        SyncOptions(extra_deny_configs=["min.*"], config_overrides={"min.insync.replicas": 2})


def test_other_bad_options():
    with pytest.raises(KafkaOpsError, match="min.insync.replicas must be a positive integer"):
        SyncOptions(config_overrides={"min.insync.replicas": "two"})
    with pytest.raises(KafkaOpsError, match="batch_size"):
        SyncOptions(batch_size=0)
    with pytest.raises(KafkaOpsError, match="min_insync_replicas"):
        SyncOptions(min_insync_replicas="ignore")
    with pytest.raises(KafkaOpsError, match="config_sources"):
        SyncOptions(config_sources=["cluster"])


# The table of internal names is tested once, in test_admin.py: here only that topic sync uses that rule.
@pytest.mark.parametrize("name", ["__consumer_offsets", "_schemas", "source.checkpoints.internal", "connect-offsets",
                                  "kafkaops.mirror.offsets"])
def test_internal_topics_follow_the_admin_rule(name):
    assert admin.is_internal(name)
    matched, reason = SyncOptions().selected(name)
    assert matched is True and reason == "internal topic (%s)" % admin.internal_kind(name)


@pytest.mark.parametrize("name", ["orders", "orders.internal-audit", "payments.internal", "connect-offsets-app"])
def test_application_topics_are_selected(name):
    assert SyncOptions().selected(name) == (True, None)


def test_include_and_exclude_match_whole_names():
    opts = SyncOptions(include=[r"orders\..*", "payments"], exclude=[r".*\.tmp"])
    assert opts.selected("orders.eu") == (True, None)
    assert opts.selected("payments") == (True, None)
    assert opts.selected("payments-v2") == (False, None)      # whole-name match, not search
    assert opts.selected("old.orders.eu") == (False, None)
    assert opts.selected("orders.eu.tmp") == (True, r"excluded by pattern '.*\\.tmp'")


# -- planning --------------------------------------------------------------------------------------

def test_missing_topics_are_created_with_auto_rf_and_overrides():
    source = {"orders": src(6, 3, **cfg(retention_ms="86400000", cleanup_policy="compact")), "logs": src(1, 1)}
    p = plan(source, {}, 2, SyncOptions())
    assert p.create == {
        "orders": {"partitions": 6, "replication_factor": 2,
                   "configs": {"retention.ms": "86400000", "cleanup.policy": "compact"}},
        "logs": {"partitions": 1, "replication_factor": 1, "configs": {}},
    }
    assert not p.errors and not p.expand and not p.alter and p.changes


def test_denied_configs_are_left_out_and_reported():
    configs = cfg(message_format_version="2.8", retention_ms="1000", leader_replication_throttled_replicas="0:1")
    source = {"legacy": src(1, 1, **configs)}
    p = plan(source, {}, 2, SyncOptions())
    assert p.create["legacy"]["configs"] == {"retention.ms": "1000"}
    assert p.not_copied == {"legacy": {"message.format.version": "message.format.version",
                                       "leader.replication.throttled.replicas": "leader.replication.throttled.replicas"}}
    p = plan(source, {}, 2, SyncOptions(deny_configs=[]))
    assert p.create["legacy"]["configs"]["message.format.version"] == "2.8"


def test_keep_rf_larger_than_target_is_a_validation_error():
    source = {"a": src(3, 3), "b": src(3, 1)}
    p = plan(source, {}, 2, SyncOptions(replication_factor="keep"))
    assert list(p.errors) == ["a"]
    assert "replication factor 3 (replication_factor=keep) exceeds the 2 brokers" in p.errors["a"]
    p = plan(source, {}, 2, SyncOptions(replication_factor=3))
    assert sorted(p.errors) == ["a", "b"]


def test_min_insync_replicas_clamped_to_target_rf():
    source = {"orders": src(3, 3, **cfg(min_insync_replicas="3"))}
    p = plan(source, {}, 2, SyncOptions())
    assert p.create["orders"]["configs"]["min.insync.replicas"] == "2"
    assert p.adjusted["orders"]["min.insync.replicas"]["source"] == "3"
    p = plan(source, {}, 2, SyncOptions(min_insync_replicas="fail"))
    assert "orders" in p.errors and "exceeds the target replication factor 2" in p.errors["orders"]
    # an override wins over the source value and is clamped as well
    p = plan({"x": src(3, 1)}, {}, 2, SyncOptions(config_overrides={"min.insync.replicas": 2}))
    assert p.create["x"]["configs"]["min.insync.replicas"] == "1"
    # within the RF: untouched
    p = plan({"y": src(3, 3, **cfg(min_insync_replicas="2"))}, {}, 2, SyncOptions())
    assert p.create["y"]["configs"]["min.insync.replicas"] == "2" and not p.adjusted


def test_existing_topic_with_fewer_partitions_is_expanded():
    p = plan({"orders": src(12, 2)}, {"orders": tgt(4, 2)}, 2, SyncOptions())
    assert p.expand == {"orders": {"before": 4, "after": 12}}
    assert not p.create and "orders" not in p.drift


def test_target_with_more_partitions_is_reported_not_changed():
    p = plan({"orders": src(3, 2)}, {"orders": tgt(8, 2)}, 2, SyncOptions(align_configs=True))
    assert not p.expand and not p.alter and not p.create
    assert p.drift["orders"]["partitions"]["source"] == 3 and p.drift["orders"]["partitions"]["target"] == 8


def test_config_drift_reported_then_aligned_only_when_asked():
    source = {"t": src(3, 2, **cfg(retention_ms="1000", cleanup_policy="compact"))}
    target = {"t": tgt(3, 2, overrides=cfg(retention_ms="5000", cleanup_policy="compact"))}
    p = plan(source, target, 2, SyncOptions())
    assert p.drift == {"t": {"configs": {"retention.ms": {"source": "1000", "target": "5000"}}}}
    assert not p.alter and not p.changes
    p = plan(source, target, 2, SyncOptions(align_configs=True))
    assert p.alter == {"t": {"retention.ms": {"before": "5000", "after": "1000"}}}
    assert p.changes


def test_value_equal_to_target_default_is_no_drift():
    source = {"t": src(3, 2, **cfg(retention_ms="604800000"))}
    p = plan(source, {"t": tgt(3, 2)}, 2, SyncOptions(align_configs=True))
    assert p.unchanged == ["t"] and not p.drift and not p.alter


def test_extra_target_overrides_reported_and_removed_only_when_asked():
    source = {"t": src(3, 2)}
    target = {"t": tgt(3, 2, overrides=cfg(segment_ms="1000", message_timestamp_after_max_ms="1", flush_ms="5"))}
    p = plan(source, target, 2, SyncOptions(align_configs=True))
    # flush.ms is deny-listed: the target manages it, never reported or touched
    assert p.drift["t"]["configs"] == {"message.timestamp.after.max.ms": {"source": None, "target": "1"},
                                       "segment.ms": {"source": None, "target": "1000"}}
    assert not p.alter
    p = plan(source, target, 2, SyncOptions(align_configs=True, remove_extra_configs=True))
    assert p.alter == {"t": {"message.timestamp.after.max.ms": {"before": "1", "after": None},
                             "segment.ms": {"before": "1000", "after": None}}}


def test_replication_factor_difference_is_drift():
    p = plan({"t": src(3, 3)}, {"t": tgt(3, 1)}, 2, SyncOptions())
    assert p.drift["t"]["replication_factor"] == {"source": 3, "target": 1, "expected": 2,
                                                  "note": "not changed: needs a partition reassignment"}


def test_existing_topic_min_isr_is_clamped_to_its_actual_rf():
    source = {"t": src(3, 3, **cfg(min_insync_replicas="3"))}
    target = {"t": tgt(3, 1, overrides=cfg(min_insync_replicas="1"))}
    p = plan(source, target, 2, SyncOptions(align_configs=True))
    assert "t" not in p.alter            # 3 clamped to the topic's RF 1 = what the target already has
    assert p.adjusted["t"]["min.insync.replicas"]["target"] == "1"


def test_internal_excluded_ignored_and_errored_topics():
    source = {"__consumer_offsets": src(50, 3), "orders": src(), "orders.tmp": src(), "other": src(),
              "broken": dict(src(), error="metadata error: LEADER_NOT_AVAILABLE")}
    p = plan(source, {}, 2, SyncOptions(include=["orders.*", "__.*", "broken"], exclude=[r".*\.tmp"]))
    assert sorted(p.create) == ["orders"]
    assert p.skipped["__consumer_offsets"] == "internal topic (consumer offsets)"
    assert p.skipped["orders.tmp"].startswith("excluded by pattern")
    assert p.skipped["broken"] == "metadata error: LEADER_NOT_AVAILABLE"
    assert p.ignored == 1


def test_second_plan_after_apply_is_empty():
    source = {"a": src(6, 3, **cfg(retention_ms="1000", min_insync_replicas="3")), "b": src(2, 1)}
    opts = SyncOptions(align_configs=True)
    first = plan(source, {}, 2, opts)
    # the target as the first plan leaves it
    target = {}
    for name, spec in first.create.items():
        target[name] = tgt(spec["partitions"], spec["replication_factor"], overrides=spec["configs"])
    second = plan(source, target, 2, opts)
    assert not second.changes and not second.drift and sorted(second.unchanged) == ["a", "b"]


def test_diff_shows_before_and_after_per_topic():
    source = {"new": src(2, 1, **cfg(retention_ms="1")), "grow": src(6, 2, **cfg(retention_ms="9")),
              "same": src(3, 2)}
    target = {"grow": tgt(3, 2, overrides=cfg(retention_ms="5")), "same": tgt(3, 2)}
    p = plan(source, target, 2, SyncOptions(align_configs=True))
    d = p.diff(target)
    assert d["before"] == {"grow": {"state": "present", "partitions": 3, "configs": {"retention.ms": "5"}},
                           "new": {"state": "absent"}}
    assert d["after"] == {"grow": {"state": "present", "partitions": 6, "configs": {"retention.ms": "9"}},
                          "new": {"state": "present", "partitions": 2, "replication_factor": 1,
                                  "configs": {"retention.ms": "1"}}}


def test_batches_respect_count_and_record_budget():
    from ansible_collections.kafkaops.migration.plugins.module_utils.topics import _chunks_weighted
    sizes = [1, 12, 5000, 4000, 3000, 1, 1, 1, 9000, 2]
    chunks = list(_chunks_weighted(sizes, 3, lambda w: w, 8000))
    assert chunks == [[1, 12, 5000], [4000, 3000, 1], [1, 1], [9000], [2]]
    assert sum(chunks, []) == sizes
    assert all(len(c) <= 3 for c in chunks)
    assert all(sum(c) <= 8000 for c in chunks if len(c) > 1)


# -- the module's own validation, before any connection (nothing listens on port 1) -----------------

@pytest.mark.parametrize("extra, message", [
    ({"include": ["orders["]}, "include: 'orders[' is not a valid regular expression"),
    ({"replication_factor": "many"}, "replication_factor must be keep, auto or a positive integer"),
    ({"config_overrides": {"message.downconversion.enable": False}}, "deny-listed"),
    ({"wait_timeout": -1}, "wait_timeout must not be negative"),
    ({"timeout": 0}, "timeout must be positive"),
    ({"target_prefix": "bk/"}, "target_prefix: 'bk/' would make illegal Kafka topic names"),
])
def test_module_rejects_bad_options_without_connecting(extra, message):
    import time
    from ansible_collections.kafkaops.migration.plugins.modules import kafka_topic_sync
    from tests.utils.modules import FailJson, run_module
    args = {"source": {"bootstrap_servers": ["127.0.0.1:1"]}, "target": {"bootstrap_servers": ["127.0.0.1:1"]}}
    args.update(extra)
    t0 = time.monotonic()
    with pytest.raises(FailJson) as err:
        run_module(kafka_topic_sync, args)
    assert message in err.value.result["msg"]
    assert time.monotonic() - t0 < 2


# -- target names: prefix / suffix ------------------------------------------------------------------

def test_renamed_topics_are_planned_under_their_target_name():
    source = {"orders": src(6, 3, **cfg(retention_ms="1000")), "logs": src(1, 1), "__consumer_offsets": src(50, 3)}
    opts = SyncOptions(target_prefix="bk.", target_suffix="-v1")
    p = plan(source, {}, 2, opts)
    assert p.topic_map == {"logs": "bk.logs-v1", "orders": "bk.orders-v1"}
    assert p.create == {"bk.orders-v1": {"partitions": 6, "replication_factor": 2, "configs": {"retention.ms": "1000"}},
                        "bk.logs-v1": {"partitions": 1, "replication_factor": 1, "configs": {}}}
    assert p.skipped == {"__consumer_offsets": "internal topic (consumer offsets)"}
    d = p.diff({})
    assert d["before"]["bk.orders-v1"] == {"state": "absent"}
    assert d["after"]["bk.orders-v1"]["source_topic"] == "orders"
    # without renaming, the diff has no source_topic and the map is the identity
    p = plan(source, {}, 2, SyncOptions())
    assert p.topic_map == {"logs": "logs", "orders": "orders"} and "source_topic" not in p.diff({})["after"]["orders"]


def test_renamed_existing_topics_expand_drift_and_align_by_target_name():
    source = {"orders": src(8, 2, **cfg(retention_ms="1000")), "more": src(2, 2)}
    # the target has the same-named live topics AND the backups: only the backups are compared
    target = {"bk.orders": tgt(3, 2, overrides=cfg(retention_ms="5000")), "bk.more": tgt(4, 2),
              "orders": tgt(1, 1), "more": tgt(1, 1)}
    opts = SyncOptions(target_prefix="bk.", align_configs=True)
    p = plan(source, target, 2, opts)
    assert p.expand == {"bk.orders": {"before": 3, "after": 8}}
    assert p.alter == {"bk.orders": {"retention.ms": {"before": "5000", "after": "1000"}}}
    assert p.drift["bk.more"]["partitions"]["target"] == 4 and set(p.drift) == {"bk.orders", "bk.more"}
    assert not p.create and not p.errors
    # after the change, a second plan is empty
    target["bk.orders"] = tgt(8, 2, overrides=cfg(retention_ms="1000"))
    p = plan(source, target, 2, opts)
    assert not p.changes and p.unchanged == ["bk.orders"] and list(p.drift) == ["bk.more"]


def test_rename_errors_are_keyed_by_source_topic_and_name_the_target():
    p = plan({"a": src(3, 3)}, {}, 2, SyncOptions(replication_factor="keep", target_suffix=".bk"))
    assert list(p.errors) == ["a"] and "(target topic a.bk)" in p.errors["a"]
    p = plan({"a": src(3, 3, **cfg(min_insync_replicas="3"))}, {}, 2,
             SyncOptions(min_insync_replicas="fail", target_suffix=".bk"))
    assert list(p.errors) == ["a"] and not p.create


@pytest.mark.parametrize("option", ["target_prefix", "target_suffix"])
@pytest.mark.parametrize("value", ["bk/", "b k.", "bäck.", "x:"])
def test_prefix_or_suffix_with_illegal_characters_is_refused(option, value):
    with pytest.raises(KafkaOpsError, match="%s: .* would make illegal Kafka topic names" % option):
        SyncOptions(**{option: value})


@pytest.mark.parametrize("name, problem", [
    ("a" * 249, None), ("a.b_c-D9", None), ("a" * 250, "250 characters, Kafka allows 249"), ("", "empty"),
    (".", "cannot be"), ("..", "cannot be"), ("a/b", "'/'")])
def test_topic_name_problem(name, problem):
    got = topic_name_problem(name)
    assert (got is None) if problem is None else (problem in got)


def test_too_long_target_names_are_listed_before_any_change():
    long_name = "x" * 240
    source = {long_name: src(1, 1), "short": src(1, 1)}
    p = plan(source, {}, 2, SyncOptions(target_prefix="backup.of."))
    assert list(p.errors) == [long_name]
    assert "not a legal Kafka topic name: 250 characters, Kafka allows 249" in p.errors[long_name]
    assert p.create == {"backup.of.short": {"partitions": 1, "replication_factor": 1, "configs": {}}}


def test_target_name_colliding_with_another_source_topic_is_refused():
    source = {"orders": src(), "a.orders": src(), "other": src()}
    p = plan(source, {}, 2, SyncOptions(target_prefix="a."))
    assert list(p.errors) == ["orders"]
    assert "'a.orders' collides with the source topic 'a.orders'" in p.errors["orders"]
    # also when the other source topic is not selected: its namesake on the target is its own topic
    assert list(target_name_problems(source, ["orders"], SyncOptions(target_prefix="a."))) == ["orders"]
    # the same names (no prefix, no suffix) are the normal case, never a collision
    assert not plan(source, {}, 2, SyncOptions()).errors
    assert not plan(source, {}, 2, SyncOptions(target_prefix="b.")).errors


def test_target_name_of_an_internal_topic_is_refused():
    p = plan({"app": src()}, {}, 2, SyncOptions(target_suffix=".heartbeats"))
    assert "internal topic (MirrorMaker 2)" in p.errors["app"]
    p = plan({"mirror.offsets": src()}, {}, 2, SyncOptions(target_prefix="kafkaops."))
    assert "kafkaops.mirror.offsets" in p.errors["mirror.offsets"]


def test_unmatched_include_patterns_are_named():
    opts = SyncOptions(include=[r"orders\..*", "ordres", "payments"])
    assert opts.unmatched_includes(["orders.eu", "payments", "other"]) == ["ordres"]
    assert SyncOptions().unmatched_includes([]) == []          # not given: nothing to warn about
    assert SyncOptions(include=[]).unmatched_includes(["a"]) == []


# -- the reads' plumbing (no Kafka: the reads themselves are exercised by the integration tests) -------

def test_both_clusters_are_read_at_once_and_a_failure_is_raised():
    import threading
    from ansible_collections.kafkaops.migration.plugins.module_utils.topics import _at_once
    both = threading.Barrier(2, timeout=5)  # each read waits for the other: they only pass together

    def read(value):
        def run():
            both.wait()
            return value
        return run

    out = _at_once({"source": read("s"), "target": read("t")})
    assert out["source"][0] == "s" and out["target"][0] == "t"
    assert all(seconds >= 0 for _res, seconds in out.values())

    def broken():
        raise KafkaOpsError("target cluster (x): describe topic configs failed: boom")

    with pytest.raises(KafkaOpsError, match="boom"):
        _at_once({"source": lambda: "s", "target": broken})


def test_config_sources_are_kafka_names_whatever_the_client_gives():
    from confluent_kafka.admin import ConfigSource
    from ansible_collections.kafkaops.migration.plugins.module_utils.topics import TOPIC_LEVEL, _wanted_sources
    assert admin._config_source_name(ConfigSource.DYNAMIC_TOPIC_CONFIG) == TOPIC_LEVEL
    assert admin._config_source_name(ConfigSource.STATIC_BROKER_CONFIG.value) == "STATIC_BROKER_CONFIG"
    assert _wanted_sources(["topic"]) == {TOPIC_LEVEL}
    assert _wanted_sources(["topic", "broker"]) == {TOPIC_LEVEL, "DYNAMIC_BROKER_CONFIG", "DYNAMIC_DEFAULT_BROKER_CONFIG",
                                                    "STATIC_BROKER_CONFIG"}


def test_waiting_for_the_brokers_stops_when_shown_and_is_bounded_otherwise():
    import time
    from ansible_collections.kafkaops.migration.plugins.module_utils.connection import Cluster
    from ansible_collections.kafkaops.migration.plugins.module_utils.topics import _poll_missing
    cluster = Cluster({"bootstrap_servers": ["127.0.0.1:1"]}, "target")  # never connects here
    calls = []

    def one_less(missing):
        calls.append(sorted(missing))
        return dict(list(missing.items())[1:])

    assert _poll_missing(cluster, {"a": 1, "b": 1}, 30.0, one_less) == []
    assert calls == [["a", "b"], ["b"]]

    def failing(missing):  # a failed read counts as nothing new seen, until the bound
        raise KafkaOpsError("target cluster: list topics failed")

    start = time.monotonic()
    assert _poll_missing(cluster, {"a": 1}, 0.5, failing) == ["a"]
    assert time.monotonic() - start < 2.0
