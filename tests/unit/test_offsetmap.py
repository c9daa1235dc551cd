"""The offset-map arithmetic (plugins/module_utils/offsetmap.py): runs, gaps, resume points, errors.

No Kafka here. The mirror writes the map and kafka_group_sync reads it; these tests pin the
documented format and the translation rules both sides rely on.
"""

import json
import random

import pytest

from ansible_collections.kafkaops.migration.plugins.module_utils import offsetmap
from ansible_collections.kafkaops.migration.plugins.module_utils.offsetmap import (
    OffsetMap,
    PartitionMap,
    TranslationError,
    make_runs,
    progress_record,
)


# -- make_runs -----------------------------------------------------------------------------------
def test_make_runs_merges_contiguous_pairs():
    assert make_runs([(0, 0), (1, 1), (2, 2)]) == [[0, 0, 3]]


def test_make_runs_breaks_on_a_source_gap_and_on_a_target_gap():
    pairs = [(0, 10), (1, 11), (5, 12), (6, 13), (7, 15)]
    assert make_runs(pairs) == [[0, 10, 2], [5, 12, 2], [7, 15, 1]]


def test_make_runs_of_nothing_is_empty():
    assert make_runs([]) == []


# -- PartitionMap.add ----------------------------------------------------------------------------
def test_add_merges_adjacent_batches_and_keeps_the_highest_resume_point():
    pm = PartitionMap("orders", 0)
    pm.add([[0, 0, 5]], 5, 5)
    pm.add([[5, 5, 3]], 8, 8)
    assert pm.runs == [[0, 0, 8]]
    assert (pm.source_next, pm.target_next) == (8, 8)
    # A record that only moves the resume point (nothing copied: an aborted batch) keeps the runs.
    pm.add([], 12, 9)
    assert pm.runs == [[0, 0, 8]]
    assert (pm.source_next, pm.target_next) == (12, 9)


def test_add_keeps_batches_apart_when_the_target_has_a_commit_marker_between_them():
    pm = PartitionMap("orders", 0)
    pm.add([[0, 0, 5]], 5, 6)   # target offset 5 is the mirror's commit marker
    pm.add([[5, 6, 5]], 10, 12)
    assert pm.runs == [[0, 0, 5], [5, 6, 5]]


def test_add_skips_empty_runs():
    pm = PartitionMap("orders", 0)
    pm.add([[0, 0, 0], [3, 7, 2]], 5, 9)
    assert pm.runs == [[3, 7, 2]]


def test_add_rejects_overlapping_runs():
    pm = PartitionMap("orders", 1)
    pm.add([[0, 0, 5]], 5, 5)
    with pytest.raises(TranslationError, match="overlapping offset-map runs for orders:1 at source offset 3"):
        pm.add([[3, 9, 4]], 7, 13)


def test_resume_point_never_moves_back():
    pm = PartitionMap("orders", 0)
    pm.add([[0, 0, 5]], 5, 5)
    pm.add([], 3, 2)
    assert (pm.source_next, pm.target_next) == (5, 5)


# -- translate: the documented cases -------------------------------------------------------------
def _aborted_transaction_map():
    """Source: 0-2 committed, 3 commit marker, 4-6 aborted, 7 abort marker, 8-10 committed, 11 marker.

    The mirror (reading ``read_committed``) copies 0-2 in one transaction (target 0-2, its marker at
    3) and 8-10 in the next (target 4-6, its marker at 7). Like kafka_mirror, each progress record's
    resume points are right after the batch's last record: source 11, target 7.
    """
    omap = OffsetMap()
    omap.add_record(progress_record("orders", 0, [(0, 0), (1, 1), (2, 2)], source_next=3, target_next=3)[1])
    omap.add_record(progress_record("orders", 0, [(8, 4), (9, 5), (10, 6)], source_next=11, target_next=7)[1])
    return omap, omap.partitions[("orders", 0)]


def test_offset_inside_a_run_is_shifted_by_the_run():
    omap, pm = _aborted_transaction_map()
    assert pm.runs == [[0, 0, 3], [8, 4, 3]]
    assert (pm.source_next, pm.target_next) == (11, 7)
    assert omap.translate("orders", 0, 0) == (0, "mapped")
    assert omap.translate("orders", 0, 2) == (2, "mapped")
    assert omap.translate("orders", 0, 8) == (4, "mapped")
    assert omap.translate("orders", 0, 10) == (6, "mapped")


@pytest.mark.parametrize("committed", [3, 4, 5, 6, 7])
def test_offset_in_an_aborted_gap_goes_to_the_next_copied_record(committed):
    omap = _aborted_transaction_map()[0]
    # A read_committed consumer that processed 0-2 commits 3 (or later, inside the skipped stretch).
    # Target offset 3 is the mirror's commit marker; the next copied record is source 8 at target 4.
    assert omap.translate("orders", 0, committed) == (4, "gap")


@pytest.mark.parametrize("committed", [11, 12, 50])
def test_offset_past_the_copied_data_goes_to_the_target_resume_point(committed):
    # 12 is what a consumer that read everything commits: past the trailing commit marker 11.
    omap = _aborted_transaction_map()[0]
    assert omap.translate("orders", 0, committed) == (7, "after_copied")


def test_offset_after_the_last_run_but_before_source_next_is_after_copied():
    pm = PartitionMap("orders", 0)
    pm.add([[0, 0, 4]], 9, 4)  # 4..8 compacted away or aborted: nothing copied after 3
    assert pm.translate(4) == (4, "after_copied")
    assert pm.translate(8) == (4, "after_copied")


def test_compaction_gaps_in_the_source():
    # A compacted source keeps offsets 0, 3, 4, 9; the copy renumbers them 0..3 on the target.
    pm = PartitionMap("users", 2)
    pm.add(make_runs([(0, 0), (3, 1), (4, 2), (9, 3)]), 10, 4)
    assert pm.runs == [[0, 0, 1], [3, 1, 2], [9, 3, 1]]
    expected = {0: 0, 1: 1, 2: 1, 3: 1, 4: 2, 5: 3, 8: 3, 9: 3, 10: 4}
    assert dict((c, pm.translate(c)[0]) for c in expected) == expected
    assert pm.translate(1)[1] == "gap"


def test_offset_below_the_first_copied_record_is_an_error_not_a_guess():
    pm = PartitionMap("orders", 4)
    pm.add([[100, 0, 10]], 110, 10)
    with pytest.raises(TranslationError) as err:
        pm.translate(99)
    assert "source offset 99 of orders:4 is below the first copied offset 100" in str(err.value)
    assert pm.translate(100) == (0, "mapped")


def test_a_partition_with_only_a_resume_point():
    pm = PartitionMap("orders", 0)
    pm.add([], 5, 0)   # five records read, none copied (all aborted)
    assert pm.translate(5) == (0, "after_copied")
    assert pm.translate(6) == (0, "after_copied")
    with pytest.raises(TranslationError, match="no copied records are mapped for orders:0"):
        pm.translate(4)


def test_an_empty_partition_map_cannot_translate():
    with pytest.raises(TranslationError):
        PartitionMap("orders", 0).translate(0)


def test_without_target_next_after_copied_is_right_after_the_last_run():
    pm = PartitionMap("orders", 0)
    pm.add([[0, 10, 5]], None, None)
    assert pm.translate(5) == (15, "after_copied")


def test_unknown_partition_is_an_error_naming_it():
    omap = _aborted_transaction_map()[0]
    with pytest.raises(TranslationError, match="no entry for orders:1"):
        omap.translate("orders", 1, 0)
    with pytest.raises(TranslationError, match="no entry for other:0"):
        omap.translate("other", 0, 0)


# -- brute force: every committed offset of random logs ------------------------------------------
def _simulate(seed):
    """A random source log (kept, aborted and marker offsets) copied in random transactional batches.

    Returns the map built from progress records and the true list of (source, target) pairs.
    """
    rng = random.Random(seed)
    size = rng.randint(1, 120)
    kept = sorted(rng.sample(range(size), rng.randint(0, size)))
    omap = OffsetMap()
    pairs = []
    target = rng.randint(0, 3)   # target topic may already hold a few records
    pos = 0
    i = 0
    while pos < size:
        batch_end = min(size, pos + rng.randint(1, 25))
        batch = [s for s in kept[i:] if s < batch_end]
        i += len(batch)
        copied = []
        for s in batch:
            copied.append((s, target))
            target += 1
        target += 1   # the mirror's commit marker
        pairs.extend(copied)
        value = progress_record("t", 0, copied, source_next=batch_end, target_next=target)[1]
        omap.add_record(value)
        pos = batch_end
    return omap, pairs, size, target


@pytest.mark.parametrize("seed", range(40))
def test_translation_matches_a_brute_force_search(seed):
    omap, pairs, size, target_next = _simulate(seed)
    if not pairs:
        return
    first = pairs[0][0]
    for c in range(size + 3):
        if c < first:
            with pytest.raises(TranslationError):
                omap.translate("t", 0, c)
            continue
        after = [t for s, t in pairs if s >= c]
        want = after[0] if after else target_next
        assert omap.translate("t", 0, c)[0] == want, (seed, c)


# -- the documented record and file formats ------------------------------------------------------
def test_progress_record_format():
    key, value = progress_record("orders", 3, [(1195, 1210), (1196, 1211), (1199, 1212)], 1200, 1215,
                                 target_topic="orders.v2", now_ms=1764300000000)
    assert key == b"orders:3"
    assert json.loads(value) == {"format": 1, "topic": "orders", "target_topic": "orders.v2", "partition": 3,
                                 "runs": [[1195, 1210, 2], [1199, 1212, 1]], "source_next": 1200,
                                 "target_next": 1215, "time": 1764300000000}
    assert offsetmap.record_key("a.b-c", 12) == b"a.b-c:12"


def test_add_record_accepts_bytes_str_and_dict_and_keeps_the_target_topic():
    omap = OffsetMap()
    value = progress_record("orders", 0, [(0, 0)], 1, 1, target_topic="orders.v2")[1]
    omap.add_record(value)
    omap.add_record(value.decode("utf-8").replace('"runs":[[0,0,1]]', '"runs":[[1,1,1]]').replace(
        '"source_next":1', '"source_next":2').replace('"target_next":1', '"target_next":2'))
    omap.add_record({"format": 1, "topic": "orders", "partition": 0, "runs": [[2, 2, 1]],
                     "source_next": 3, "target_next": 3})
    pm = omap.partitions[("orders", 0)]
    assert pm.runs == [[0, 0, 3]]
    assert pm.target_topic == "orders.v2"


def test_unknown_format_is_refused():
    with pytest.raises(TranslationError, match="unsupported offset-map format 2"):
        OffsetMap().add_record({"format": 2, "topic": "t", "partition": 0})
    with pytest.raises(TranslationError, match="unsupported checkpoint file format"):
        OffsetMap.from_json('{"format": 7, "partitions": []}')


def test_checkpoint_file_round_trip(tmp_path):
    omap = _aborted_transaction_map()[0]
    omap.partition("payments", 1).add([[5, 0, 2]], 7, 2)
    path = tmp_path / "map.json"
    path.write_text(omap.to_json())
    data = json.loads(path.read_text())
    assert data["format"] == 1
    assert [(p["topic"], p["partition"]) for p in data["partitions"]] == [("orders", 0), ("payments", 1)]
    back = OffsetMap.from_file(str(path))
    for c in range(0, 14):
        assert back.translate("orders", 0, c) == omap.translate("orders", 0, c)
    assert back.translate("payments", 1, 6) == (1, "mapped")
    assert back.translate("payments", 1, 7) == (2, "after_copied")


def test_checkpoint_file_entries_for_one_partition_are_merged_in_order():
    text = json.dumps({"format": 1, "partitions": [
        {"topic": "o", "partition": 0, "runs": [[0, 0, 2]], "source_next": 2, "target_next": 3},
        {"topic": "o", "partition": 0, "runs": [[2, 3, 2]], "source_next": 4, "target_next": 6}]})
    omap = OffsetMap.from_json(text)
    assert omap.partitions[("o", 0)].runs == [[0, 0, 2], [2, 3, 2]]
    assert omap.translate("o", 0, 2) == (3, "mapped")
    assert omap.translate("o", 0, 4) == (6, "after_copied")
