"""The admin layer's pure rules, without Kafka: internal topics, topic selection, the lag definition, retries."""

import re

import pytest

from ansible_collections.kafkaops.migration.plugins.module_utils import admin
from ansible_collections.kafkaops.migration.plugins.module_utils.admin import (
    BEHIND,
    DRAINED,
    OPEN_TRANSACTION,
    UNKNOWN,
    ClusterView,
    ProbeFacts,
    Selection,
    internal_kind,
    is_internal,
    lag_status,
    reachable_end,
    retriable,
)
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import KafkaOpsError


# -- the one internal-topic rule ----------------------------------------------------------------------
@pytest.mark.parametrize("name,kind", [
    ("__consumer_offsets", "consumer offsets"),
    ("__transaction_state", "transaction state"),
    ("__share_group_state", "share group state"),
    ("__cluster_metadata", "KRaft metadata"),
    ("__anything", "Kafka internal (name starts with __)"),
    ("_schemas", "Schema Registry"),
    ("_confluent-metrics", "Confluent Platform"),
    ("connect-offsets", "Kafka Connect"),
    ("connect-configs", "Kafka Connect"),
    ("connect-status", "Kafka Connect"),
    ("connect-cluster-offsets", "Kafka Connect"),
    ("heartbeats", "MirrorMaker 2"),
    ("x.heartbeats", "MirrorMaker 2"),
    ("source.checkpoints.internal", "MirrorMaker 2"),
    ("mm2-offset-syncs.target.internal", "MirrorMaker 2"),
    ("mm2-offsets.source.internal", "MirrorMaker 2"),
    ("kafkaops.mirror.offsets", "kafkaops.migration offset map (the copy's progress)"),
    ("orders.internal", None),
    ("orders", None),
    ("orders_heartbeats_v2", None),
    ("heartbeats-old", None),
    ("my_schemas", None),
    ("connect-offsets-backup", None),
    ("app-changelog", None),
])
def test_internal_rule_table(name, kind):
    assert internal_kind(name) == kind
    assert is_internal(name) is (kind is not None)


def test_the_broker_flag_makes_any_name_internal():
    assert internal_kind("weird", flagged=True) == "Kafka internal"
    assert internal_kind("_schemas", flagged=True) == "Schema Registry"


def test_the_rule_is_written_once_as_whole_name_patterns_usable_by_java():
    # mm2.py passes these to Connect's topics.exclude (a comma-separated list of Java regexes)
    assert all("," not in p for p in admin.INTERNAL_TOPIC_PATTERNS)
    for p in admin.INTERNAL_TOPIC_PATTERNS:
        re.compile(p)


# -- the one selection vocabulary -------------------------------------------------------------------
def test_include_matches_whole_names():
    sel = Selection([r"orders\..*", "payments"])
    assert sel.select(["orders.eu", "orders", "xorders.eu", "payments", "payments-dlq", "eu.payments"]) == \
        ["orders.eu", "payments"]


def test_old_search_style_patterns_no_longer_match_inside_names():
    sel = Selection(["^orders"])
    assert sel.select(["orders", "orders.eu"]) == ["orders"]
    assert sel.unmatched_includes(["orders.eu"]) == ["^orders"]


def test_internal_topics_are_never_selected_even_by_dot_star():
    names = ["_schemas", "connect-offsets", "heartbeats", "x.heartbeats", "__consumer_offsets", "orders.internal", "orders"]
    assert Selection([".*"]).select(names) == ["orders", "orders.internal"]
    assert Selection(None).select(names) == ["orders", "orders.internal"]
    matched, reason = Selection([".*"]).why_not("_schemas")
    assert matched is True and reason == "internal topic (Schema Registry)"


def test_exclude_and_extra_excluded():
    sel = Selection([".*"], [r".*-dlq"], extra_excluded=["my.map"])
    assert sel.select(["a", "a-dlq", "my.map"]) == ["a"]
    assert sel.why_not("a-dlq") == (True, "excluded by pattern '.*-dlq'")
    assert sel.why_not("my.map") == (True, "used by the collection itself")
    assert sel.why_not("b") == (True, None)
    assert Selection(["x"]).why_not("b") == (False, "matches no include pattern")


def test_none_selects_all_and_empty_selects_nothing():
    assert Selection(None).select(["a", "b"]) == ["a", "b"]
    assert Selection([]).select(["a", "b"]) == []
    assert Selection(None).unmatched_includes(["a"]) == []


def test_bad_patterns_name_their_option():
    with pytest.raises(KafkaOpsError, match="^include: '\\(' is not a valid regular expression"):
        Selection(["("])
    with pytest.raises(KafkaOpsError, match="^exclude: "):
        Selection(None, ["[a-"])


def test_view_select_uses_the_names_given():
    view = ClusterView(None)
    assert view.select(Selection([r"a.*"]), names={"ab": 1, "b": 2, "__consumer_offsets": 50}) == ["ab"]


# -- the one lag definition --------------------------------------------------------------------------
def test_reachable_end_is_the_lso_for_read_committed_and_the_high_watermark_otherwise():
    assert reachable_end(10, 7, "read_committed") == 7
    assert reachable_end(10, 7, "read_uncommitted") == 10
    assert reachable_end(10, None, "read_committed") == 10
    assert reachable_end(10, 12, "read_committed") == 10  # never past the log end


@pytest.mark.parametrize("args,expected", [
    # plain topic: lag is end - position, a probe (or a known record) decides behind
    ((7, 10, 10), (UNKNOWN, 3, 7)),
    ((7, 10, 10, None, 7), (BEHIND, 3, None)),
    # at (or past) the log end: drained at once
    ((10, 10, 10), (DRAINED, 0, None)),
    ((12, 10, 10), (DRAINED, 0, None)),
    # commit marker at 3 after records 0..2, group at 3: 1 by the naive formula, 0 once proven empty
    ((3, 4, 4), (UNKNOWN, 1, 3)),
    ((3, 4, 4, 4), (DRAINED, 0, None)),
    # aborted records 4..5 and abort marker 6 after a commit marker at 3
    ((3, 7, 7, 7), (DRAINED, 0, None)),
    # a transaction still open after the position: never drained
    ((4, 6, 4), (OPEN_TRANSACTION, 2, None)),
    ((3, 6, 4, 4), (OPEN_TRANSACTION, 2, None)),
    # a known record before the position does not count
    ((5, 8, 8, None, 2), (UNKNOWN, 3, 5)),
])
def test_lag_formula_cases(args, expected):
    assert lag_status(*args) == expected


def test_probe_facts_carry_from_one_position_to_a_later_one():
    facts = ProbeFacts()
    facts.add_free(("t", 0), 3, 7)
    assert facts.free_until(("t", 0), 5) == 7
    assert lag_status(5, 7, 7, facts.free_until(("t", 0), 5)) == (DRAINED, 0, None)
    assert facts.free_until(("t", 0), 8) == 8


def test_lag_module_uses_the_admin_definition():
    from ansible_collections.kafkaops.migration.plugins.module_utils import lag
    assert lag.classify is lag_status and lag.ProbeFacts is ProbeFacts


# -- the retry policy ------------------------------------------------------------------------------
@pytest.mark.parametrize("text,grace,expected", [
    ("NOT_COORDINATOR: Broker: Not coordinator", False, True),
    ("COORDINATOR_LOAD_IN_PROGRESS: loading", False, True),
    ("COORDINATOR_NOT_AVAILABLE: x", False, True),
    ("LEADER_NOT_AVAILABLE: x", False, True),
    ("NOT_LEADER_OR_FOLLOWER: x", False, True),
    ("UNKNOWN_TOPIC_OR_PART: Broker: Unknown topic or partition", True, True),
    ("UNKNOWN_TOPIC_OR_PART: Broker: Unknown topic or partition", False, False),
    ("_NOENT: Failed to query partition leaders: No leaders found", True, True),
    ("_NOENT: Failed to query partition leaders: No leaders found", False, False),
    # a local time-out is never retried (librdkafka issue 4605: a late answer to a timed-out group request)
    ("_TIMED_OUT: Local: Timed out", True, False),
    ("GROUP_AUTHORIZATION_FAILED: x", True, False),
    (None, True, False),
])
def test_what_is_retried(text, grace, expected):
    assert retriable(text, grace) is expected


class FakeFuture:
    def __init__(self, value=None, error=None):
        self.value, self.error = value, error

    def result(self, timeout=None):
        if self.error is not None:
            raise self.error
        return self.value


class FakeCluster:
    """Only what ClusterView._collect needs of connection.Cluster: bounds and result collection."""

    request_timeout = 5.0

    def __init__(self, answers):
        self.answers = list(answers)  # one {key: ("ok", value) | ("error", text)} per round
        self.rounds = []

    def timeout(self, cap=None):
        return self.request_timeout if cap is None else cap

    def fail(self, what, exc):
        return KafkaOpsError("fake: %s failed: %s" % (what, exc))

    def results(self, futures, what, timeout=None):
        ok, errors = {}, {}
        for key, (kind, value) in futures.items():
            (ok if kind == "ok" else errors)[key] = value
        return ok, errors

    def __str__(self):
        return "fake cluster"


def test_retriable_items_are_asked_again_and_others_are_not():
    cluster = FakeCluster([
        {"a": ("ok", 1), "b": ("error", "NOT_COORDINATOR: moved"), "c": ("error", "GROUP_AUTHORIZATION_FAILED: no")},
        {"b": ("ok", 2)},
    ])
    sleeps = []
    view = ClusterView(cluster, sleep=sleeps.append)

    def submit(keys):
        cluster.rounds.append(sorted(keys))
        answers = cluster.answers.pop(0)
        return dict((k, answers[k]) for k in keys)

    ok, errors = view._collect("describe", submit, ["a", "b", "c"])
    assert ok == {"a": 1, "b": 2} and errors == {"c": "GROUP_AUTHORIZATION_FAILED: no"}
    assert cluster.rounds == [["a", "b", "c"], ["b"]]
    assert sleeps and sleeps[0] <= admin.RETRY_MAX_INTERVAL


def test_offset_kinds_are_checked():
    with pytest.raises(KafkaOpsError, match="offset kind must be"):
        admin._offset_spec("latest")


def test_the_retry_pauses_grow_and_stop_at_the_deadline():
    from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline, poll

    class Clock:
        t = 0.0

        def __call__(self):
            return self.t

        def sleep(self, s):
            self.t += s

    clk = Clock()
    seen = [round(t, 3) for t in poll(0.1, Deadline(1.0, clock=clk), sleep=clk.sleep, backoff=2.0, max_interval=0.4)]
    assert seen == [0.0, 0.1, 0.3, 0.7, 1.0]  # pauses 0.1, 0.2, 0.4, then cut short at the deadline
