"""The drained rule, the probe facts and the option checks of kafka_lag_wait, without Kafka."""

import json
import random

import pytest

from ansible_collections.kafkaops.migration.plugins.module_utils.connection import KafkaOpsError
from ansible_collections.kafkaops.migration.plugins.module_utils.lag import (
    BEHIND,
    DRAINED,
    OPEN_TRANSACTION,
    UNKNOWN,
    LagWaiter,
    ProbeFacts,
    classify,
    iso_time,
    satisfied,
    validate_options,
    write_json_atomic,
)
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline
from ansible_collections.kafkaops.migration.plugins.modules import kafka_lag_wait
from tests.utils.modules import FailJson, run_module

KEY = ("orders", 0)


# -- classify: the cases named in the design ------------------------------------------------------
def test_plain_topic_lag_is_end_minus_committed():
    assert classify(7, 10, 10) == (UNKNOWN, 3, 7)
    assert classify(7, 10, 10, visible=7) == (BEHIND, 3, None)


def test_committed_at_the_log_end_is_drained_without_a_probe():
    assert classify(10, 10, 10) == (DRAINED, 0, None)


def test_committed_past_the_log_end_is_drained():
    assert classify(12, 10, 10) == (DRAINED, 0, None)


def test_commit_marker_at_the_end_needs_a_probe_then_is_drained():
    # records 0..2 committed, marker at 3, end 4; the group committed 3 (last record + 1)
    assert classify(3, 4, 4) == (UNKNOWN, 1, 3)
    assert classify(3, 4, 4, free_until=4) == (DRAINED, 0, None)


def test_aborted_transaction_after_the_commit_is_drained_once_proven_empty():
    # 0..2 data, 3 commit marker, 4..5 aborted, 6 abort marker: end 7, committed 3 -> naive lag 4
    assert classify(3, 7, 7)[1] == 4
    assert classify(3, 7, 7, free_until=7) == (DRAINED, 0, None)


def test_open_transaction_after_the_position_is_never_drained():
    # LSO 4 (a transaction is open from 4), end 6, group at 4
    assert classify(4, 6, 4) == (OPEN_TRANSACTION, 2, None)
    # group at 3, marker at 3 proven empty up to the LSO: still open after it
    assert classify(3, 6, 4, free_until=4) == (OPEN_TRANSACTION, 2, None)


def test_a_known_record_before_the_position_does_not_count():
    assert classify(5, 10, 10, visible=None) == (UNKNOWN, 5, 5)
    assert classify(5, 10, 10, free_until=8) == (UNKNOWN, 2, 8)
    assert classify(5, 10, 10, free_until=8, visible=8) == (BEHIND, 2, None)


def test_max_lag_compares_the_upper_bound():
    assert satisfied(0, 0) and satisfied(3, 3)
    assert not satisfied(4, 3) and not satisfied(None, 100)


# -- classify against a model log: drained exactly when nothing deliverable is left ---------------
DATA, MARKER, ABORTED, OPEN = "data", "marker", "aborted", "open"


def random_log(rng):
    """A partition as a list of record kinds, built from plain writes and transactions."""
    log = []
    for _step in range(rng.randint(0, 6)):
        kind = rng.choice(["plain", "commit", "abort", "compacted"])
        n = rng.randint(1, 3)
        if kind == "plain":
            log += [DATA] * n
        elif kind == "commit":
            log += [DATA] * n + [MARKER]
        elif kind == "abort":
            log += [ABORTED] * n + [MARKER]
        else:
            log += [MARKER] * n  # offsets a consumer never receives (compaction gaps behave alike)
    if rng.random() < 0.3:
        log += [OPEN] * rng.randint(1, 3)
    return log


def model_probe(log, start, reach, isolation, facts, key):
    """What the real probe learns: the first deliverable offset in [start, reach), or that there is none."""
    for off in range(start, reach):
        if deliverable(log[off], isolation):
            facts.add_free(key, start, off)
            facts.add_visible(key, off)
            return
    facts.add_free(key, start, reach)


def deliverable(kind, isolation):
    if isolation == "read_committed":
        return kind == DATA
    return kind in (DATA, ABORTED, OPEN)


@pytest.mark.parametrize("isolation", ["read_committed", "read_uncommitted"])
def test_rule_matches_the_model_on_random_logs(isolation):
    rng = random.Random(1234)
    for _case in range(3000):
        log = random_log(rng)
        end = len(log)
        lso = log.index(OPEN) if OPEN in log else end
        reach = lso if isolation == "read_committed" else end
        position = rng.randint(0, end + 1)
        facts = ProbeFacts()
        status, lag, probe_from = classify(position, end, reach, facts.free_until(KEY, position),
                                           facts.visible_from(KEY, position))
        if probe_from is not None:
            model_probe(log, probe_from, reach, isolation, facts, KEY)
            status, lag, probe_from = classify(position, end, reach, facts.free_until(KEY, position),
                                               facts.visible_from(KEY, position))
        left = [k for k in log[position:] if deliverable(k, isolation)]
        pending = [k for k in log[position:] if k == OPEN] if isolation == "read_committed" else []
        assert probe_from is None
        assert status != UNKNOWN
        assert (status == DRAINED) == (not left and not pending), (log, position, status)
        assert (status == BEHIND) == bool(left), (log, position, status)
        assert (status == OPEN_TRANSACTION) == (not left and bool(pending)), (log, position, status)
        assert lag >= len(left) + len(pending)
        assert (lag == 0) == (status == DRAINED)


def test_facts_from_one_probe_serve_a_later_position():
    # 0 data, 1 marker, 2..4 aborted, 5 marker: a probe from 1 proves [1, 6) empty
    facts = ProbeFacts()
    facts.add_free(KEY, 1, 6)
    assert classify(3, 6, 6, facts.free_until(KEY, 3)) == (DRAINED, 0, None)
    assert classify(0, 6, 6, facts.free_until(KEY, 0)) == (UNKNOWN, 6, 0)


# -- probe facts ---------------------------------------------------------------------------------
def test_free_ranges_merge_and_answer_from_inside():
    facts = ProbeFacts()
    facts.add_free(KEY, 10, 12)
    facts.add_free(KEY, 12, 15)
    facts.add_free(KEY, 20, 22)
    facts.add_free(KEY, 5, 5)  # empty range: ignored
    assert facts.free_until(KEY, 10) == 15
    assert facts.free_until(KEY, 14) == 15
    assert facts.free_until(KEY, 15) == 15
    assert facts.free_until(KEY, 21) == 22
    assert facts.free_until(KEY, 4) == 4
    assert facts.free_until(("other", 0), 10) == 10


def test_visible_offsets_are_bounded_and_searched_from_the_position():
    facts = ProbeFacts(max_visible=3)
    for off in (50, 10, 30, 40):
        facts.add_visible(KEY, off)
    assert facts.visible_from(KEY, 0) == 30  # 10 was dropped, the largest three are kept
    assert facts.visible_from(KEY, 41) == 50
    assert facts.visible_from(KEY, 51) is None


# -- options --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, text", [
    (dict(groups=[]), "needs at least one group"),
    (dict(groups=["g"], until="idle", topics=["t"]), "groups must not be given"),
    (dict(groups=[], until="idle", topics=None), "needs the topics"),
    (dict(groups=["g"], topics=["bad name"]), "not a valid topic name"),
    (dict(groups=[" "]), "non-empty string"),
    (dict(groups=["g"], max_lag=-1), "max_lag"),
    (dict(groups=["g"], interval=0), "interval must be positive"),
    (dict(groups=["g"], stable_for=-1), "stable_for"),
    (dict(groups=["g"], isolation_level="dirty"), "isolation_level"),
    (dict(groups=[], until="members"), "until=members needs at least one group"),
    (dict(groups=["g"], until="members", topics=["t"]), "watches groups only"),
    (dict(groups=["g"], until="members", min_members=0), "min_members"),
    (dict(groups=[], until="written", topics=["t"]), "needs since"),
    (dict(groups=["g"], until="written", topics=["t"], since=1), "watches topics only"),
    (dict(groups=[], until="written", topics=None, since=1), "needs the topics"),
    (dict(groups=[], until="written", topics=["t"], since=1, min_records=0), "min_records"),
    (dict(groups=["g"], since=1), "since is only used with until=written"),
])
def test_bad_options_are_refused(kwargs, text):
    base = dict(groups=["g"], topics=None, until="drained", max_lag=0, interval=1.0, stable_for=0.0,
                isolation_level="read_committed")
    base.update(kwargs)
    with pytest.raises(KafkaOpsError) as err:
        validate_options(**base)
    assert text in err.value.msg


def test_duplicates_are_dropped_in_order():
    groups, topics = validate_options(["b", "a", "b"], ["t", "t"], "drained", 0, 1.0, 0.0, "read_committed")
    assert groups == ["b", "a"] and topics == ["t"]


def test_module_refuses_bad_input_before_connecting():
    cluster = {"bootstrap_servers": ["127.0.0.1:1"]}
    with pytest.raises(FailJson) as err:
        run_module(kafka_lag_wait, {"cluster": cluster, "until": "idle", "timeout": 30})
    assert "until=idle needs the topics" in err.value.result["msg"]
    assert err.value.result["changed"] is False
    assert err.value.result["duration"] < 5


# -- conditions and history -----------------------------------------------------------------------
def waiter(**kwargs):
    base = dict(groups=["g"], interval=1.0, deadline=Deadline(10))
    base.update(kwargs)
    return LagWaiter(None, **base)


def test_drained_condition_needs_every_group_drained():
    w = waiter(groups=["a", "b"])
    snap = {"groups": {"a": {"drained": True}, "b": {"drained": False}}}
    assert not w.condition(snap, None)
    snap["groups"]["b"]["drained"] = True
    assert w.condition(snap, None)


def test_idle_condition_compares_two_polls():
    w = waiter(groups=[], until="idle", topics=["t"])
    first = {"end_signature": ((KEY, 5),), "end_errors": False}
    assert not w.condition(first, None)
    assert w.condition(dict(first), first)
    assert not w.condition({"end_signature": ((KEY, 6),), "end_errors": False}, first)
    assert not w.condition(dict(first, end_errors=True), first)


def test_history_file_is_replaced_atomically(tmp_path):
    path = tmp_path / "h.json"
    write_json_atomic(str(path), {"samples": [1]})
    write_json_atomic(str(path), {"samples": [1, 2]})
    assert json.loads(path.read_text()) == {"samples": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["h.json"]


def test_iso_time_is_utc_with_milliseconds():
    assert iso_time(0) == "1970-01-01T00:00:00.000Z"
    assert iso_time(1795838922.2305) == "2026-11-28T04:08:42.230Z"
