# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Procedure steps 1 and 2: read the source cluster, size the target, preflight a target.

Plain Python, no AnsibleModule. The pure functions (traffic arithmetic, disk estimate, catalogue
matching, preflight checks) are unit-tested without Kafka; the readers (:func:`read_cluster`,
:func:`sample_traffic`) read a real cluster through the admin layer (:class:`admin.ClusterView`), always
in batches:

* topics: one ``describe_topics`` call for all topics; which topics are internal and which are
  selected is the admin layer's rule (:func:`admin.internal_kind`, :class:`admin.Selection`);
* configs: ``describe_configs`` in chunks, all chunks in flight at once (broker configs: librdkafka
  allows one BROKER resource per call, so one call per broker, concurrent);
* offsets: one ``list_offsets`` call per sample for every partition;
* group offsets: confluent-kafka takes one group per ``list_consumer_group_offsets`` call, so all
  calls are issued first and waited for once;
* group lag: the collection's one lag definition (:func:`admin.lag_status`, measured by
  :func:`lag.measure`): lag to the last offset the group's consumers can reach (the last stable
  offset for ``read_committed``), with trailing markers and aborted records proven empty by one
  bounded probe, so a drained group on a transactional topic reports 0.

Size on disk comes from kafka-python's ``KafkaAdminClient.describe_log_dirs`` (DescribeLogDirs, the
broker's own count of bytes in each replica's segments), because confluent-kafka has no
DescribeLogDirs. kafka-python is used for that and for the ApiVersions / features version probe
only; confluent-kafka stays the main client. Without kafka-python the module still works: sizes are
then unknown and bytes/s cannot be measured (a warning says so).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time
import traceback

import threading

from ansible_collections.kafkaops.migration.plugins.module_utils import alibaba as ali
from ansible_collections.kafkaops.migration.plugins.module_utils import lag as lag_rule
from ansible_collections.kafkaops.migration.plugins.module_utils.admin import (
    internal_kind,
    is_internal,
    is_unknown_topic,
    view_of,
)
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import KafkaOpsError
from ansible_collections.kafkaops.migration.plugins.module_utils.editions import EDITION_KEYS
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline

try:
    from kafka import KafkaAdminClient
    HAS_KAFKA_PYTHON = True
    KAFKA_PYTHON_IMPORT_ERROR = None
except ImportError:
    HAS_KAFKA_PYTHON = False
    KAFKA_PYTHON_IMPORT_ERROR = traceback.format_exc()

MIB = 1024 * 1024
GIB = 1024 * MIB


# ----------------------------------------------------------------------------------------------
# Pure helpers
# ----------------------------------------------------------------------------------------------
def metric_name(topic):
    """Kafka's metric name of a topic: '.' becomes '_' (so 'a.b' and 'a_b' collide)."""
    return topic.replace(".", "_")


def metric_collisions(names):
    """Groups of distinct topic names whose metric names are equal, sorted."""
    groups = {}
    for n in set(names):
        groups.setdefault(metric_name(n), set()).add(n)
    return sorted([sorted(g) for g in groups.values() if len(g) > 1])


def _int(value, default=None):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def traffic_from_samples(samples, start0=None, start1=None, size0=None, size1=None, size_end0=None, size_end1=None):
    """Messages/s and bytes/s per topic and in total, from log-end offsets sampled over time.

    ``samples``: ``[(t, {(topic, partition): log_end_offset})]`` in time order (two or more).
    ``start0``/``start1``: log-start offsets at the first and last sample; ``size0``/``size1``: bytes
    of each partition (one replica) at the first and last sample, or None when unknown.

    ``size_end0``/``size_end1``: log-end offsets at the moment each size was read (the midpoint of
    the offsets read just before and just after it); without them the first and last samples stand in.

    Bytes per topic: messages/s x the window's average message size, which is the growth of the
    topic's size on disk divided by the messages written between the two size readings, when that is
    sound (log start did not move, so no segment was deleted, and the size grew); otherwise the
    average retained message size. ``peak`` is the busiest interval between two consecutive samples.
    """
    if len(samples) < 2:
        raise ValueError("traffic needs two samples or more")
    start0, start1 = start0 or {}, start1 or {}
    t_first, first = samples[0]
    t_last, last = samples[-1]
    span = max(t_last - t_first, 1e-6)
    topics = {}
    for (topic, part), end in last.items():
        if (topic, part) not in first:
            continue
        tinfo = topics.setdefault(topic, {"messages": 0, "delta_bytes": 0, "delta_ok": size0 is not None and size1 is not None,
                                          "sized_messages": 0,
                                          "retained_messages": 0, "retained_bytes": 0, "size_known": size1 is not None})
        msgs = max(end - first[(topic, part)], 0)
        tinfo["messages"] += msgs
        if size1 is not None:
            if (topic, part) in size1:
                tinfo["retained_bytes"] += size1[(topic, part)]
                if (topic, part) in start1:
                    tinfo["retained_messages"] += max(end - start1[(topic, part)], 0)
            else:
                tinfo["size_known"] = False
        if tinfo["delta_ok"]:
            moved = start0.get((topic, part)) != start1.get((topic, part))
            if (topic, part) not in size0 or (topic, part) not in size1 or moved:
                tinfo["delta_ok"] = False
            else:
                grown = size1[(topic, part)] - size0[(topic, part)]
                if size_end0 is not None and size_end1 is not None:
                    sized = (size_end1.get((topic, part), end) - size_end0.get((topic, part), first[(topic, part)]))
                else:
                    sized = msgs
                if grown < 0 or (grown == 0 and sized > 0):
                    tinfo["delta_ok"] = False
                else:
                    tinfo["delta_bytes"] += grown
                    tinfo["sized_messages"] += max(sized, 0)
    per_topic = {}
    for topic, t in topics.items():
        mps = t["messages"] / span
        avg = None
        if t["delta_ok"] and t["messages"] > 0 and t["delta_bytes"] > 0 and t["sized_messages"] > 0:
            avg = t["delta_bytes"] / float(t["sized_messages"])
            bps, src = mps * avg, "log size growth"
        else:
            if t["size_known"] and t["retained_messages"] > 0:
                avg = t["retained_bytes"] / t["retained_messages"]
            if t["messages"] == 0:
                bps, src = 0.0, "no new messages"
            elif avg is not None:
                bps, src = mps * avg, "messages/s x average retained message size"
            else:
                bps, src = None, "unknown (no size source)"
        per_topic[topic] = {"messages_per_s": mps, "bytes_per_s": bps, "bytes_source": src, "average_message_bytes": avg}
    peak_mps, peak_bps = 0.0, 0.0
    bytes_known = all(v["bytes_per_s"] is not None for v in per_topic.values())
    for (t0, s0), (t1, s1) in zip(samples, samples[1:]):
        dt = max(t1 - t0, 1e-6)
        msgs, byts = {}, 0.0
        for tp, end in s1.items():
            if tp in s0:
                msgs[tp[0]] = msgs.get(tp[0], 0) + max(end - s0[tp], 0)
        peak_mps = max(peak_mps, sum(msgs.values()) / dt)
        if bytes_known:
            for topic, n in msgs.items():
                info = per_topic.get(topic)
                if info is None or n == 0:
                    continue
                avg = info["average_message_bytes"]
                if avg is None:  # bytes known but no average: only when a topic had no messages
                    avg = (info["bytes_per_s"] / info["messages_per_s"]) if info["messages_per_s"] else 0.0
                byts += n * avg
            peak_bps = max(peak_bps, byts / dt)
    total_bps = sum(v["bytes_per_s"] for v in per_topic.values()) if bytes_known else None
    return per_topic, {
        "window_s": round(span, 3),
        "samples": len(samples),
        "messages_per_s": sum(v["messages_per_s"] for v in per_topic.values()),
        "bytes_per_s": total_bps,
        "peak_messages_per_s": peak_mps,
        "peak_bytes_per_s": peak_bps if bytes_known else None,
    }


def topic_disk_bytes(bytes_per_s, retention_ms, retention_bytes, partitions, size_bytes, cleanup_policy):
    """``(bytes, reason)`` one copy of a topic will hold on the target (before replication).

    Time-based retention: bytes/s x retention (capped by retention.bytes x partitions); compacted
    or unlimited retention: the measured size. Never less than the measured size.
    """
    policy = set(p.strip() for p in (cleanup_policy or "delete").split(","))
    size = size_bytes or 0
    if "delete" not in policy:
        return size, "compacted topic: measured size %d B" % size
    retention_ms = _int(retention_ms, -1)
    retention_bytes = _int(retention_bytes, -1)
    if retention_ms is None or retention_ms < 0:
        if retention_bytes is not None and retention_bytes > 0:
            est = retention_bytes * partitions
            return max(est, size), "retention.bytes %d x %d partitions" % (retention_bytes, partitions)
        grow = "" if not bytes_per_s else ", grows %d B/day" % (bytes_per_s * 86400)
        return size, "unlimited retention: measured size %d B%s" % (size, grow)
    if bytes_per_s is None:
        return size, "traffic not measured: measured size %d B" % size
    est = bytes_per_s * retention_ms / 1000.0
    reason = "%.0f B/s x retention %.1f h = %d B" % (bytes_per_s, retention_ms / 3600000.0, est)
    if retention_bytes is not None and retention_bytes > 0 and retention_bytes * partitions < est:
        est = retention_bytes * partitions
        reason = "retention.bytes %d x %d partitions = %d B (less than %.0f B/s x %.1f h)" % (
            retention_bytes, partitions, est, bytes_per_s, retention_ms / 3600000.0)
    if size > est:
        return size, "measured size %d B (more than %s)" % (size, reason)
    return est, reason


def normalise_editions(editions):
    """Validate a custom catalogue (list of dicts); fill missing keys with None."""
    if not isinstance(editions, list) or not editions:
        raise KafkaOpsError("editions must be a non-empty list of dicts")
    numeric = ("max_write_mb_s", "max_read_mb_s", "included_partitions", "max_partitions", "max_topics", "max_groups",
               "min_partitions_per_topic", "max_retention_hours", "max_message_bytes", "disk_min_gb", "disk_max_gb",
               "replication_factor")
    out, names = [], set()
    for i, e in enumerate(editions):
        if not isinstance(e, dict) or not e.get("name"):
            raise KafkaOpsError("editions[%d] must be a dict with a name" % i)
        unknown = sorted(set(e) - set(EDITION_KEYS))
        if unknown:
            raise KafkaOpsError("editions[%d] (%s): unknown keys %s; known: %s" % (i, e["name"], ", ".join(unknown), ", ".join(EDITION_KEYS)))
        if e["name"] in names:
            raise KafkaOpsError("editions[%d]: duplicate name %r" % (i, e["name"]))
        names.add(e["name"])
        entry = dict((k, e.get(k)) for k in EDITION_KEYS)
        for k in numeric:
            v = entry[k]
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
                raise KafkaOpsError("editions[%d] (%s): %s must be a non-negative number, got %r" % (i, e["name"], k, v))
        entry["edition"] = entry["edition"] or entry["name"]
        entry["disk_counts_replicas"] = bool(entry["disk_counts_replicas"])
        out.append(entry)
    return out


def filter_editions(catalogue, edition):
    """Entries whose name, edition family or spec equals ``edition`` (all when None)."""
    if not edition:
        return list(catalogue)
    found = [e for e in catalogue if edition in (e.get("name"), e.get("edition"), e.get("spec"))]
    if not found:
        choices = sorted(set(e["edition"] for e in catalogue) | set(e["name"] for e in catalogue))
        raise KafkaOpsError("edition %r is not in the catalogue; choose one of: %s" % (edition, ", ".join(choices)))
    return found


def sizing_needs(topics, traffic, read_bytes_per_s, headroom):
    """What the target must carry, from the selected (non-internal) topics, with reasons."""
    if headroom < 1:
        raise KafkaOpsError("headroom must be 1.0 or more, got %s" % headroom)
    peak = traffic.get("peak_bytes_per_s") if traffic else None
    avg = traffic.get("bytes_per_s") if traffic else None
    needs = {"headroom": headroom}
    if peak is None:
        needs["write_mb_s"] = {"value": None, "reason": "traffic not measured (sample_window 0 or no size source)"}
    else:
        measured_max = max(peak, avg or 0)
        needs["write_mb_s"] = {
            "value": round(measured_max * headroom / MIB, 3),
            "reason": "busiest %.1f s interval of the %.1f s window: %.0f B/s (average %.0f B/s) x headroom %.2f" % (
                traffic["window_s"] / max(traffic["samples"] - 1, 1), traffic["window_s"], measured_max, avg or 0, headroom)}
    if read_bytes_per_s is None:
        needs["read_mb_s"] = {"value": None, "reason": "consumption not measured"}
    else:
        needs["read_mb_s"] = {
            "value": round(read_bytes_per_s * headroom / MIB, 3),
            "reason": "committed offsets of all groups advanced %.0f B/s over the window x headroom %.2f" % (read_bytes_per_s, headroom)}
    parts = [t["partitions"] for t in topics]
    needs["topics"] = {"value": len(topics), "reason": "%d application topics (internal topics are not migrated)" % len(topics)}
    needs["partitions"] = {"value": sum(parts), "partition_counts": parts,
                           "reason": "sum of the partitions of %d topics (kept: keyed records stay in the same partition)" % len(topics)}
    disk, unlimited, longest = 0.0, [], 0
    for t in topics:
        disk += t["disk_bytes"]
        r = _int(t.get("retention_ms"), -1)
        if "delete" in (t.get("cleanup_policy") or "delete") and (r is None or r < 0):
            unlimited.append(t["name"])
        elif r and r > longest:
            longest = r
    needs["disk_gb"] = {
        "value": round(disk * headroom / GIB, 3),
        "one_copy_bytes": int(disk),
        "reason": "per topic max(bytes/s x retention, measured size), summed: %d B for one copy, x headroom %.2f" % (disk, headroom)}
    needs["retention_hours"] = {
        "value": None if unlimited else round(longest / 3600000.0, 3),
        "reason": ("unlimited retention on %d topic(s), e.g. %s" % (len(unlimited), unlimited[0])) if unlimited
        else "longest retention.ms among the topics"}
    biggest = max([_int(t.get("max_message_bytes"), 0) or 0 for t in topics] or [0])
    needs["max_message_bytes"] = {"value": biggest, "reason": "largest max.message.bytes among the topics"}
    return needs


def misfits(entry, needs, replication_factor=None):
    """Reasons why a catalogue entry cannot carry ``needs`` (empty list: it fits)."""
    out = []

    def over(limit, value):
        return limit is not None and value is not None and value > limit

    w, r = needs["write_mb_s"]["value"], needs["read_mb_s"]["value"]
    if over(entry.get("max_write_mb_s"), w):
        out.append("write traffic %.3f MB/s exceeds %s MB/s" % (w, entry["max_write_mb_s"]))
    if over(entry.get("max_read_mb_s"), r):
        out.append("read traffic %.3f MB/s exceeds %s MB/s" % (r, entry["max_read_mb_s"]))
    parts = partitions_on(entry, needs["partitions"]["partition_counts"])
    if over(entry.get("max_partitions"), parts):
        out.append("%d partitions exceed the maximum %s" % (parts, entry["max_partitions"]))
    if over(entry.get("max_topics"), needs["topics"]["value"]):
        out.append("%d topics exceed the maximum %s" % (needs["topics"]["value"], entry["max_topics"]))
    ret = needs["retention_hours"]["value"]
    if entry.get("max_retention_hours") is not None and (ret is None or ret > entry["max_retention_hours"]):
        shown = "unlimited" if ret is None else "%.1f h" % ret
        out.append("retention %s exceeds the edition's %s h" % (shown, entry["max_retention_hours"]))
    if over(entry.get("max_message_bytes"), needs["max_message_bytes"]["value"]):
        out.append("topics accept messages up to %d B, the edition %d B" % (
            needs["max_message_bytes"]["value"], entry["max_message_bytes"]))
    disk = disk_to_buy(entry, needs, replication_factor)
    if over(entry.get("disk_max_gb"), disk):
        out.append("disk %.1f GB exceeds the maximum %s GB" % (disk, entry["disk_max_gb"]))
    return out


def partitions_on(entry, counts):
    """Partitions the topics take on an entry, after raising each to its minimum per topic."""
    low = entry.get("min_partitions_per_topic") or 1
    return sum(max(c, low) for c in counts)


def disk_to_buy(entry, needs, replication_factor=None):
    """GB of disk to buy: the need, times the replicas when the bought disk holds them."""
    rf = replication_factor or entry.get("replication_factor") or 3
    gb = needs["disk_gb"]["value"] or 0.0
    if entry.get("disk_counts_replicas"):
        gb *= rf
    if entry.get("disk_min_gb"):
        gb = max(gb, entry["disk_min_gb"])
    return round(gb, 3)


def recommend(needs, catalogue, edition=None, replication_factor=None):
    """The first (cheapest) catalogue entry that fits, with a reason for each figure."""
    entries = filter_editions(catalogue, edition)
    by_edition, chosen = {}, None
    for entry in entries:
        reasons = misfits(entry, needs, replication_factor)
        fam = by_edition.setdefault(entry["edition"], {"fits": False, "spec": None, "largest_misfit": None})
        if not reasons:
            if not fam["fits"]:
                fam.update(fits=True, spec=entry["name"])
            if chosen is None:
                chosen = entry
        elif not fam["fits"]:
            fam["largest_misfit"] = {"name": entry["name"], "reasons": reasons}
    for fam in by_edition.values():
        if fam["fits"]:
            fam.pop("largest_misfit")
    out = {"fits": chosen is not None, "edition": None, "by_edition": by_edition,
           "needs": dict((k, v) for k, v in needs.items() if k != "headroom")}
    out["needs"]["partitions"] = dict((k, v) for k, v in needs["partitions"].items() if k != "partition_counts")
    if chosen is None:
        return out
    rf = replication_factor or chosen.get("replication_factor") or 3
    parts = partitions_on(chosen, needs["partitions"]["partition_counts"])
    disk = disk_to_buy(chosen, needs, replication_factor)
    included = chosen.get("included_partitions")
    figures = {
        "write_mb_s": dict(needs["write_mb_s"], limit=chosen.get("max_write_mb_s")),
        "read_mb_s": dict(needs["read_mb_s"], limit=chosen.get("max_read_mb_s")),
        "topics": dict(needs["topics"], limit=chosen.get("max_topics")),
        "partitions": {
            "value": parts, "limit": chosen.get("max_partitions"),
            "reason": needs["partitions"]["reason"] + (
                "; topics raised to the edition's minimum of %d partitions" % chosen["min_partitions_per_topic"]
                if parts != needs["partitions"]["value"] else "")},
        "extra_partitions": {
            "value": max(parts - included, 0) if included is not None else None,
            "reason": "partitions beyond the %s included in the spec" % included if included is not None
            else "no partitions included in a price"},
        "disk_gb": {
            "value": disk, "limit": chosen.get("disk_max_gb"),
            "reason": needs["disk_gb"]["reason"] + (
                "; x replication factor %d because this edition's disk holds every replica" % rf
                if chosen.get("disk_counts_replicas") else "; replicas are stored on top of the bought disk")},
        "retention_hours": dict(needs["retention_hours"], limit=chosen.get("max_retention_hours")),
    }
    out.update(edition=chosen["name"], edition_family=chosen["edition"], spec=chosen.get("spec"), vendor=chosen.get("vendor"),
               product=chosen.get("product"), replication_factor=rf, figures=figures, source=chosen.get("source"),
               included_partitions=included)
    return out


def limits_from_entry(entry):
    keys = ("max_partitions", "max_topics", "max_groups", "min_partitions_per_topic", "max_retention_hours",
            "max_message_bytes", "max_write_mb_s", "max_read_mb_s")
    return dict((k, entry.get(k)) for k in keys)


def preflight_checks(source_topics, target, limits, needs=None, target_names=None):
    """Pure part of the target preflight: what will not fit, what clashes. Changes nothing.

    ``source_topics``: selected source topics (dicts with name, partitions, replication_factor,
    retention_ms, max_message_bytes); ``target``: {"brokers": n, "topics": {name: partitions}} of
    the target's non-internal topics; ``limits``: dict of limits (None values: no limit).
    ``target_names``: ``{source topic: target topic}`` where the target name differs (a target that
    renames, see :func:`name_checks`); clashes, metric-name collisions and counts are then about the
    target names, problems still name the source topic.
    """
    limits = limits or {}
    target_names = target_names or {}
    problems = []
    target_topics = target["topics"]
    clashes = []
    new_partitions = 0
    low = limits.get("min_partitions_per_topic") or 1
    too_replicated = []
    for t in source_topics:
        name = t["name"]
        tname = target_names.get(name, name)
        if tname in target_topics:
            tp = target_topics[tname]
            if tp == t["partitions"]:
                state = "same partitions"
            elif tp < t["partitions"]:
                state = "target has fewer partitions (%d < %d): they would be added" % (tp, t["partitions"])
            else:
                state = "target has more partitions (%d > %d): keyed records would land in other partitions" % (tp, t["partitions"])
                problems.append({"kind": "partitions", "severity": "error", "topic": name, "detail": state})
            clash = {"topic": name, "source_partitions": t["partitions"], "target_partitions": tp, "detail": state}
            if tname != name:
                clash["target_topic"] = tname
            clashes.append(clash)
        else:
            new_partitions += max(t["partitions"], low)
        if t["replication_factor"] > target["brokers"]:
            too_replicated.append(name)
        ret = _int(t.get("retention_ms"), -1)
        max_ret = limits.get("max_retention_hours")
        if max_ret is not None and "delete" in (t.get("cleanup_policy") or "delete"):
            if ret is None or ret < 0 or ret > max_ret * 3600000:
                problems.append({"kind": "retention", "severity": "error", "topic": name,
                                 "detail": "retention %s exceeds the target's %s h" % (
                                     "unlimited" if ret is None or ret < 0 else "%.1f h" % (ret / 3600000.0), max_ret)})
        mmb = limits.get("max_message_bytes")
        if mmb is not None and (_int(t.get("max_message_bytes"), 0) or 0) > mmb:
            problems.append({"kind": "message_size", "severity": "error", "topic": name,
                             "detail": "max.message.bytes %s exceeds the target's %d" % (t.get("max_message_bytes"), mmb)})
    if too_replicated:
        problems.append({"kind": "replication_factor", "severity": "warning", "topics": too_replicated[:20],
                         "count": len(too_replicated),
                         "detail": "%d topic(s) have a replication factor above the target's %d brokers: "
                                   "it must be lowered on the target" % (len(too_replicated), target["brokers"])})
    migrating = set(target_names.get(t["name"], t["name"]) for t in source_topics)
    collisions = [g for g in metric_collisions(list(migrating) + list(target_topics)) if set(g) & migrating]
    for g in collisions:
        problems.append({"kind": "metric_name_collision", "severity": "error", "topics": g,
                         "detail": "topics %s collide once '.' is replaced by '_': Kafka refuses to create the second" % ", ".join(g)})
    existing = sum(target_topics.values())
    total_parts = existing + new_partitions
    total_topics = len(set(target_topics) | migrating)
    if limits.get("max_partitions") is not None and total_parts > limits["max_partitions"]:
        problems.append({"kind": "partitions_limit", "severity": "error",
                         "detail": "%d partitions after migration (%d on the target + %d new) exceed the limit %d" % (
                             total_parts, existing, new_partitions, limits["max_partitions"])})
    if limits.get("max_topics") is not None and total_topics > limits["max_topics"]:
        problems.append({"kind": "topics_limit", "severity": "error",
                         "detail": "%d topics after migration exceed the limit %d" % (total_topics, limits["max_topics"])})
    if needs:
        for key, label in (("write_mb_s", "write traffic"), ("read_mb_s", "read traffic")):
            lim, val = limits.get("max_" + key), needs[key]["value"]
            if lim is not None and val is not None and val > lim:
                problems.append({"kind": key, "severity": "error",
                                 "detail": "%s %.3f MB/s (with headroom) exceeds the target's %s MB/s" % (label, val, lim)})
    return {
        "fits": not any(p["severity"] == "error" for p in problems),
        "problems": problems,
        "clashes": clashes,
        "metric_collisions": collisions,
        "partitions_after": total_parts,
        "topics_after": total_topics,
        "new_partitions": new_partitions,
    }


def migrating_groups(groups):
    """The ids of the consumer groups the migration moves, from the spec's group entries.

    Every group :func:`collect` read, except one whose committed offsets are all on topics outside the
    selection (it committed somewhere, but on no selected topic: it is not part of this migration). A
    group without commits, or whose commits could not be read, counts: its application may move.
    """
    out = []
    for g in groups or []:
        if g.get("committed_partitions") and not g.get("topics"):
            continue
        out.append(g["group_id"])
    return sorted(set(out))


def _pairs(mapping, shown=10):
    items = sorted(mapping.items())
    text = ", ".join("%s -> %s" % (k, v) for k, v in items[:shown])
    return text + (", ..." if len(items) > shown else "")


def name_checks(topics, groups, names, source_names=None):
    """Names a target with a name rule refuses, and the topics it renames. Pure; reads nothing.

    ``topics``: the selected source topic names; ``groups``: the source consumer group ids;
    ``names``: the :class:`alibaba.TopicNames` of every step (rename map, ``rename_rule`` and the
    target's ``name_rule``); ``source_names``: every source topic (renamed topics must not land on
    another source topic's name; the selected ones when None).

    Returns ``(names_result, problems)``: ``{"rule", "rename_rule", "renamed": {source: target},
    "refused_topics": {source: why}, "refused_groups": {group: why}}`` and the preflight problems - an
    error per refused topic (fix: a rename map entry) and per refused group (group names are never
    renamed, that would change the application's group.id: fix with the dotted name rule or a new
    group.id), and one warning listing the renamed topics. ``renamed`` leaves the refused topics out.
    """
    rule = names.name_rule
    selected = sorted(set(topics))
    every = set(source_names if source_names is not None else ()) | set(selected)
    refused_topics = names.problems(selected, every) if rule is not None or names.rename else {}
    refused_groups = {}
    for g in sorted(set(groups or ())):
        why = ali.name_problem(g, rule, what="group") if rule is not None else None
        if why:
            refused_groups[g] = why
    renamed = dict((s, t) for s, t in names.renamed(selected).items() if s not in refused_topics)
    problems = []
    for src, why in sorted(refused_topics.items()):
        detail = "source topic %r: %s" % (src, why)
        if names.rule == "refuse" and src not in names.rename and rule is not None:
            candidate = ali.default_rename(src, rule)
            if candidate != src and ali.name_problem(candidate, rule) is None:
                detail += " (or rename_rule underscore, which names it %r)" % candidate
        problems.append({"kind": "topic_name", "severity": "error", "topic": src, "detail": detail})
    for g, why in sorted(refused_groups.items()):
        fix = "give the application a new group.id the target accepts"
        candidate = ali.default_rename(g, rule)
        if candidate != g and ali.name_problem(candidate, rule, what="group") is None:
            fix += " (for example %r)" % candidate
        if rule == "strict" and ali.name_problem(g, "dotted", what="group") is None:
            fix = "use an instance whose name rule is dotted (alibaba.name_rule dotted), which accepts it, or " + fix
        problems.append({"kind": "group_name", "severity": "error", "group": g,
                         "detail": "consumer group %r: %s; group names are never renamed (that would change the "
                                   "application's group.id): %s" % (g, why, fix)})
    if renamed:
        one = len(renamed) == 1
        problems.append({"kind": "topic_rename", "severity": "warning", "topics": sorted(renamed)[:20], "count": len(renamed),
                         "detail": "%d topic%s new name%s on the target: %s; give every step the same rename map and "
                                   "rename_rule, and the applications the new names" % (
                                       len(renamed), " gets a" if one else "s get", "" if one else "s", _pairs(renamed))})
    return {"rule": rule, "rename_rule": names.rule, "renamed": renamed, "refused_topics": refused_topics,
            "refused_groups": refused_groups}, problems


def read_instance(api, warnings):
    """The instance's public GetInstanceList fields (read-only), or None with a warning saying why.

    A copy of ``api`` with its own deadline (twice its request timeout, never past the module's) makes
    the call: an unreachable OpenAPI endpoint costs a bounded wait, not the module's whole timeout
    (the client retries transport errors until its deadline).
    """
    left = api.deadline.remaining()
    budget = 2 * api.request_timeout + 1
    if left is not None:
        budget = min(budget, max(left - 1, 0.5))
    probe = ali.AlibabaApi(api.options, name=api.name, deadline=Deadline(budget))
    try:
        return ali.public_instance(probe.instance())
    except KafkaOpsError as exc:
        warnings.append("the instance could not be read through the OpenAPI (the name checks do not need it): %s" % exc.msg)
        return None


def source_topic_names(source):
    """Every topic name of the source (one Metadata call), internal ones included."""
    return sorted(view_of(source).topics())


# ----------------------------------------------------------------------------------------------
# Readers (talk to Kafka)
# ----------------------------------------------------------------------------------------------
def kafka_python_config(params, timeout):
    """kafka-python KafkaAdminClient settings for a cluster's options (secrets included)."""
    servers = params["bootstrap_servers"]
    if isinstance(servers, str):
        servers = [s.strip() for s in servers.split(",") if s.strip()]
    ms = int(max(timeout, 1) * 1000)
    conf = {"bootstrap_servers": list(servers), "client_id": "kafkaops-migration-spec",
            "security_protocol": params.get("security_protocol") or "PLAINTEXT",
            "request_timeout_ms": ms, "bootstrap_timeout_ms": ms}
    if conf["security_protocol"].startswith("SASL_"):
        conf.update(sasl_mechanism=params.get("sasl_mechanism"), sasl_plain_username=params.get("sasl_username"),
                    sasl_plain_password=params.get("sasl_password"))
    if conf["security_protocol"] in ("SSL", "SASL_SSL"):
        for opt, key in (("ssl_ca_location", "ssl_cafile"), ("ssl_certificate_location", "ssl_certfile"),
                         ("ssl_key_location", "ssl_keyfile"), ("ssl_key_password", "ssl_password")):
            if params.get(opt):
                conf[key] = params[opt]
        conf["ssl_check_hostname"] = params.get("ssl_check_hostname", True) is not False
    return conf


class SizeProbe:
    """kafka-python session for DescribeLogDirs and the version probe; failures become warnings."""

    def __init__(self, cluster, warnings):
        self.cluster = cluster
        self.warnings = warnings
        self.admin = None
        if not HAS_KAFKA_PYTHON:
            warnings.append("kafka-python is not installed: size on disk, bytes/s and the ApiVersions version probe "
                            "are unavailable (pip install kafka-python)")
            return
        try:
            self.admin = KafkaAdminClient(**kafka_python_config(cluster.params, cluster.timeout()))
        except Exception as exc:  # reachability was checked with confluent-kafka already
            warnings.append("%s: kafka-python could not connect (%s): sizes unavailable" % (cluster, exc))

    def log_dirs(self, tps=None):
        """{(topic, partition): bytes of the largest replica}, {(topic, partition): bytes of all replicas}.

        ``tps``: the (topic, partition) pairs to ask for (all when None); naming them spares
        kafka-python a metadata round trip and the brokers the other topics."""
        if self.admin is None:
            return None, None
        wanted = None
        if tps is not None:
            wanted = {}
            for t, p in tps:
                wanted.setdefault(t, []).append(p)
            if not wanted:
                return {}, {}
        try:
            data = self.admin.describe_log_dirs(topic_partitions=wanted)
        except Exception as exc:
            self.warnings.append("%s: DescribeLogDirs failed (%s): sizes unavailable" % (self.cluster, exc))
            self.close()
            return None, None
        one, total = {}, {}
        for broker in data:
            for d in broker.get("log_dirs", []):
                if d.get("error_code"):
                    self.warnings.append("%s: broker %s log dir %s reports error %s" % (
                        self.cluster, broker.get("broker"), d.get("log_dir"), d.get("error_code")))
                    continue
                for t in d.get("topics", []):
                    for p in t.get("partitions", []):
                        if p.get("is_future_key"):
                            continue
                        key = (t["name"], p["partition_index"])
                        one[key] = max(one.get(key, 0), p["partition_size"])
                        total[key] = total.get(key, 0) + p["partition_size"]
        return one, total

    def versions(self, broker_ids):
        out = {}
        if self.admin is None:
            return out, None
        for b in broker_ids:
            try:
                out[b] = self.admin.get_broker_version_data(b).broker_version_str
            except Exception:
                out[b] = None
        features = None
        try:
            features = self.admin.describe_features()
        except Exception:
            features = None
        return out, features

    def close(self):
        if self.admin is not None:
            try:
                self.admin.close()
            except Exception:
                pass
            self.admin = None


def read_cluster(cluster, info, probe, warnings, selection=None):
    """Brokers, versions, controller mode and every topic with partitions, RF and configs.

    Every internal topic is listed (flagged, never sized) and every topic ``selection`` (an
    :class:`admin.Selection`; all non-internal topics when None) picks. The version probe
    (kafka-python) runs in a thread while the admin layer reads the topics, their configs and the
    broker configs.
    """
    view = view_of(cluster)
    cluster = view.cluster
    ids = [b["id"] for b in info["brokers"]]
    probed = {"versions": {}, "features": None}
    thread = None
    if probe:
        def run_probe():
            probed["versions"], probed["features"] = probe.versions(ids)
        thread = threading.Thread(target=run_probe, name="kafkaops-spec-version-probe")
        thread.daemon = True
        thread.start()
    try:
        all_names = view.topics()
        chosen = set(selection.select(all_names)) if selection is not None else set(n for n in all_names if not is_internal(n))
        names = sorted(n for n in all_names if is_internal(n) or n in chosen)
        if selection is not None and selection.include_given and not chosen:
            # sizing zero topics is no answer: a typo in include would otherwise size the target for nothing
            raise KafkaOpsError("%s: include %s (exclude %s) selects no topic of the %d it has, so there is nothing to "
                                "evaluate; patterns match whole names (%r, not %r, selects the topics starting with "
                                "orders)" % (cluster, [p.pattern for p in selection.include], [p.pattern for p in selection.exclude],
                                             len([n for n in all_names if not is_internal(n)]), "orders.*", "^orders"))
        if selection is not None:
            for pattern in selection.unmatched_includes(all_names):
                warnings.append("%s: include pattern %r matches no topic (patterns match whole names: %r, not %r, "
                                "selects the topics starting with orders)" % (cluster, pattern, "orders.*", "^orders"))
        descs, gone = view.describe_topics(names)
        for n in gone:
            warnings.append("%s: topic %s not described: deleted meanwhile" % (cluster, n))
        configs = view.topic_configs([n for n in names if n in descs])
        bconf, berr = view.broker_configs(ids)
        for b, err in berr.items():
            warnings.append("%s: broker %s configs unavailable: %s" % (cluster, b, err))
    finally:
        if thread is not None:
            thread.join(cluster.timeout() + 1)
    versions, features = probed["versions"], probed["features"]
    zk = any((c.get("zookeeper.connect") or "") for c in bconf.values())
    roles = sorted(set(c.get("process.roles") for c in bconf.values() if c.get("process.roles")))
    mode = "zookeeper" if zk else ("kraft" if roles or features else "unknown")
    brokers = []
    for b in info["brokers"]:
        c = bconf.get(b["id"], {})
        brokers.append(dict(b, version=versions.get(b["id"]), inter_broker_protocol_version=c.get("inter.broker.protocol.version")
                            if zk else None, process_roles=c.get("process.roles") or None))
    ibp = sorted(set(b["inter_broker_protocol_version"] for b in brokers if b["inter_broker_protocol_version"]))
    probed = sorted(set(v for v in versions.values() if v))
    metadata_version = None
    if features and isinstance(features.get("metadata.version"), dict):
        fin = features["metadata.version"].get("finalized")
        metadata_version = fin[1] if fin else None
    version = {
        "reported": probed[0] if probed else (ibp[0].split("-")[0] if ibp else None),
        "probed": dict((str(k), v) for k, v in versions.items()),
        "inter_broker_protocol_version": ibp,
        "metadata_version_level": metadata_version,
        "method": "ApiVersions probe (kafka-python): the newest release whose APIs every broker answers, a lower bound; "
                  "plus inter.broker.protocol.version (ZooKeeper mode) or the finalized metadata.version feature (KRaft)",
    }
    if len(probed) > 1:
        warnings.append("%s: brokers run different versions %s (rolling upgrade?)" % (cluster, ", ".join(probed)))
    default_conf = next(iter(bconf.values()), {})
    topics = []
    for n in names:
        if n not in descs:
            continue
        d = descs[n]
        kind = internal_kind(n, d["internal_flag"])
        rfs = sorted(set(p["replicas"] for p in d["partitions"]))
        conf = configs.get(n, {"effective": {}, "non_default": {}})
        effective = conf["effective"]
        topics.append({
            "name": n, "internal": kind is not None, "internal_kind": kind, "partitions": len(d["partitions"]),
            "replication_factor": rfs[-1] if rfs else 0,
            "under_replicated_partitions": sum(1 for p in d["partitions"] if p["isr"] < p["replicas"]),
            "configs": conf["non_default"],
            "retention_ms": effective.get("retention.ms"),
            "retention_bytes": effective.get("retention.bytes"),
            "cleanup_policy": effective.get("cleanup.policy"),
            "max_message_bytes": effective.get("max.message.bytes"),
            "partition_ids": [p["id"] for p in d["partitions"]],
        })
        if len(rfs) > 1:
            warnings.append("%s: topic %s has partitions with different replica counts %s" % (cluster, n, rfs))
    return {
        "cluster_id": info["cluster_id"], "controller_id": info["controller_id"], "controller_mode": mode,
        "brokers": brokers, "version": version,
        "broker_defaults": dict((k, default_conf.get(k)) for k in (
            "log.retention.hours", "log.retention.ms", "num.partitions", "default.replication.factor",
            "min.insync.replicas", "message.max.bytes", "auto.create.topics.enable") if k in default_conf),
    }, topics


def _list_offsets(view, tps, kind, gone=None):
    """Offsets of one kind (admin.ClusterView kinds: start, end) of many partitions in one call.
    Partitions of topics deleted meanwhile (someone else's topic on a shared cluster) are dropped
    and their topic added to ``gone``; other errors fail."""
    tps = [tp for tp in tps if gone is None or tp[0] not in gone]
    if not tps:
        return {}
    out, errors = view.offsets_of_kinds(tps, [kind])
    hard = {}
    for (_kind, tp), text in errors.items():
        if gone is not None and is_unknown_topic(text):
            gone.add(tp[0])
        else:
            hard[tp] = text
    if hard:
        raise KafkaOpsError("%s: list offsets (%s) failed for %d partition(s), e.g. %s" % (
            view, kind, len(hard), "; ".join("%s[%s]: %s" % (k[0], k[1], v) for k, v in sorted(hard.items())[:3])))
    return dict((tp, off) for tp, off in out[kind].items() if tp[0] not in (gone or ()))


def _group_offsets(view, group_ids):
    """Committed offsets of each group (one call per group, all in flight at once): ``(offsets, errors)``."""
    return view.committed(group_ids), {}


def list_groups(view, warnings):
    ids, errors = view.list_groups()
    for err in errors:
        warnings.append("%s: listing groups: %s" % (view, err))
    return ids


def describe_groups(view, group_ids, warnings):
    """``{group: {"state" (lower case), "members", "simple", "assignor", "clients"}}``."""
    if not group_ids:
        return {}
    out = {}
    for g, d in view.groups(group_ids).items():
        out[g] = {"state": (d["state"] or "unknown").lower(), "members": d["members"], "simple": d["simple"],
                  "assignor": d["assignor"], "clients": d["clients"]}
    return out


def sample_traffic(cluster, tps, window, interval, probe, group_ids, gone=None):
    """Sample log-end offsets every ``interval`` s over ``window`` s (0: one sample, no rates).

    Also log-start offsets and sizes (DescribeLogDirs) at the first and last sample, and committed
    group offsets at the first and last sample. Returns a dict of the raw observations.
    """
    def stamp(fn):
        t0 = time.monotonic()
        value = fn()
        return (t0 + time.monotonic()) / 2.0, value

    view = view_of(cluster)
    cluster = view.cluster
    obs = {"samples": [], "start0": None, "start1": None, "size0": None, "size1": None, "total_size": None,
           "size_end0": None, "size_end1": None,
           "groups0": {}, "groups1": {}, "group_errors": {}, "t_groups0": None, "t_groups1": None}
    obs["start0"] = _list_offsets(view, tps, "start", gone)
    obs["samples"].append(stamp(lambda: _list_offsets(view, tps, "end", gone)))
    if probe:
        obs["size0"], obs["total_size"], obs["size_end0"] = _sized(view, tps, probe, obs["samples"][-1][1], gone)
    if group_ids:
        obs["t_groups0"], (obs["groups0"], obs["group_errors"]) = stamp(lambda: _group_offsets(view, group_ids))
    if window <= 0:
        obs["start1"], obs["size1"], obs["size_end1"] = obs["start0"], obs["size0"], obs["size_end0"]
        obs["groups1"], obs["t_groups1"] = obs["groups0"], obs["t_groups0"]
        return obs
    begin = obs["samples"][0][0]
    step = max(min(interval, window), 0.05)
    k = 1
    while True:
        target = begin + min(k * step, window)
        pause = target - time.monotonic()
        remaining = cluster.deadline.remaining()
        if remaining is not None and pause > remaining - 1:
            raise KafkaOpsError("%s: sample_window %.1f s does not fit in the module timeout" % (cluster, window), timed_out=True)
        if pause > 0:
            time.sleep(pause)
        obs["samples"].append(stamp(lambda: _list_offsets(view, tps, "end", gone)))
        if k * step >= window:
            break
        k += 1
    if probe:
        obs["size1"], obs["total_size"], obs["size_end1"] = _sized(view, tps, probe, obs["samples"][-1][1], gone)
    obs["start1"] = _list_offsets(view, tps, "start", gone)
    if group_ids:
        obs["t_groups1"], (obs["groups1"], errs) = stamp(lambda: _group_offsets(view, group_ids))
        obs["group_errors"].update(errs)
    return obs


def _sized(view, tps, probe, before, gone):
    """Sizes (DescribeLogDirs) bracketed by log-end offsets: ``before`` (just read) and one read right
    after; the midpoint is the log end the sizes correspond to, so bytes pair with messages."""
    one, total = probe.log_dirs(tps)
    if one is None:
        return None, None, None
    after = _list_offsets(view, tps, "end", gone)
    mid = dict((tp, (before[tp] + after[tp]) / 2.0) for tp in after if tp in before)
    return one, total, mid


def group_lag(view, commits, partitions, isolation_level, warnings):
    """Lag of each group on the partitions it committed on among ``partitions`` (the selected ones).

    The collection's one lag definition (:func:`admin.lag_status`): lag to the last offset the
    group's consumers can reach (last stable offset for ``read_committed``, high watermark otherwise),
    with the offsets between the committed offset and that end read once by a bounded probe that
    never commits (:func:`lag.measure`): trailing transaction markers and aborted records count 0.
    A partition the probe could not decide within its budget keeps the upper bound ``log end -
    committed``. Returns ``{group: {"lag", "topics": {topic: lag}, "not_drained"}}``.
    """
    positions = dict((g, dict((tp, off) for tp, off in offs.items() if tp in partitions)) for g, offs in commits.items())
    rows = lag_rule.measure(view, positions, isolation_level) if any(positions.values()) else dict((g, {}) for g in positions)
    out, errors = {}, []
    for g, parts in rows.items():
        total, per_topic, not_drained = 0, {}, 0
        for (t, _p), row in sorted(parts.items()):
            n = row["lag"]
            if n is None:  # not readable (deleted meanwhile): its upper bound is unknown, leave it out
                errors.append("%s %s:%d: %s" % (g, t, _p, row.get("error")))
                continue
            total += n
            per_topic[t] = per_topic.get(t, 0) + n
            not_drained += 1 if row["status"] != "drained" else 0
        out[g] = {"lag": total, "topics": per_topic, "not_drained": not_drained}
    if errors:
        warnings.append("%s: lag not measured on %d partition(s), e.g. %s" % (view, len(errors), "; ".join(errors[:3])))
    return out


def collect(source, window=10.0, interval=1.0, selection=None, groups=True, measure_size=True,
            isolation_level="read_committed"):
    """Step 1: everything known about the source. Returns ``(spec, topics, warnings)``.

    ``selection``: an :class:`admin.Selection` (all non-internal topics when None).
    ``topics`` are the selected topics (internal ones included, flagged) with traffic, sizes and the
    per-topic disk estimate; ``spec`` is the summary returned to the user. Group lag follows the one
    lag definition for consumers of ``isolation_level`` (see :func:`group_lag`).
    """
    warnings = []
    started = time.monotonic()
    view = view_of(source)
    described = view.describe()  # reachability and credentials first: fails fast with the cause
    probe = SizeProbe(source, warnings) if measure_size else None
    try:
        info, topics = read_cluster(view, described, probe, warnings, selection)
        tps = [(t["name"], p) for t in topics for p in t["partition_ids"]]
        group_ids = list_groups(view, warnings) if groups else []
        gdesc = describe_groups(view, group_ids, warnings) if groups else {}
        gone = set()
        obs = sample_traffic(view, tps, window, interval, probe, group_ids, gone)
    finally:
        if probe:
            probe.close()
    if gone:
        warnings.append("%s: %d topic(s) became unknown to their leader while being read (deleted meanwhile, or created "
                        "so recently that not every broker knows them), left out: %s" % (source, len(gone), ", ".join(sorted(gone)[:10])))
        topics = [t for t in topics if t["name"] not in gone]
        obs["samples"] = [(ts, dict((k, v) for k, v in sm.items() if k[0] not in gone)) for ts, sm in obs["samples"]]
    last = obs["samples"][-1][1]
    per_topic, traffic = ({}, None)
    if len(obs["samples"]) >= 2:
        per_topic, traffic = traffic_from_samples(obs["samples"], obs["start0"], obs["start1"], obs["size0"], obs["size1"],
                                                  obs["size_end0"], obs["size_end1"])
    size_one, size_all = obs["size1"], obs["total_size"]
    by_name = {}
    for t in topics:
        ids = t.pop("partition_ids")
        end = sum(last.get((t["name"], p), 0) for p in ids)
        start = sum(obs["start1"].get((t["name"], p), 0) for p in ids)
        t["messages"] = max(end - start, 0)
        t["log_end_offsets"] = end
        t["size_bytes"] = sum(size_one.get((t["name"], p), 0) for p in ids) if size_one is not None else None
        t["size_bytes_all_replicas"] = sum(size_all.get((t["name"], p), 0) for p in ids) if size_all is not None else None
        rate = per_topic.get(t["name"])
        t["messages_per_s"] = round(rate["messages_per_s"], 3) if rate else None
        t["bytes_per_s"] = round(rate["bytes_per_s"], 3) if rate and rate["bytes_per_s"] is not None else None
        t["bytes_source"] = rate["bytes_source"] if rate else "not sampled"
        t["average_message_bytes"] = rate["average_message_bytes"] if rate else None
        if t["average_message_bytes"] is None and t["size_bytes"] and t["messages"]:
            t["average_message_bytes"] = t["size_bytes"] / float(t["messages"])
        if t["average_message_bytes"] is not None:
            t["average_message_bytes"] = round(t["average_message_bytes"], 1)
        t["disk_bytes"], t["disk_reason"] = topic_disk_bytes(t["bytes_per_s"], t["retention_ms"], t["retention_bytes"],
                                                             t["partitions"], t["size_bytes"], t["cleanup_policy"])
        t["disk_bytes"] = int(t["disk_bytes"])
        by_name[t["name"]] = (t, ids)
    # consumer groups: state, members, lag (the one lag definition), consumption rate
    group_list, read_bps, read_known = [], 0.0, window > 0 and bool(group_ids)
    dt = (obs["t_groups1"] - obs["t_groups0"]) if obs["t_groups1"] and obs["t_groups0"] else 0
    lags = group_lag(view, dict((g, obs["groups1"][g]) for g in group_ids if obs["groups1"].get(g) is not None),
                     set(last), isolation_level, warnings)
    for g in group_ids:
        committed = obs["groups1"].get(g)
        entry = dict(group_id=g, **gdesc.get(g, {"state": "unknown", "members": 0, "simple": None, "assignor": None, "clients": []}))
        if committed is None:
            entry.update(lag=None, error=obs["group_errors"].get(g))
            group_list.append(entry)
            continue
        lag, topics_lag = lags[g]["lag"], lags[g]["topics"]
        entry.update(lag=lag, topics=topics_lag, committed_partitions=len(committed),
                     partitions_not_drained=lags[g]["not_drained"])
        if dt > 0:
            before = obs["groups0"].get(g, {})
            consumed = 0.0
            for tp, off in committed.items():
                if tp in before and tp[0] in by_name:
                    moved = max(off - before[tp], 0)
                    avg = by_name[tp[0]][0]["average_message_bytes"]
                    if moved and avg is None:
                        read_known = False
                    consumed += moved * (avg or 0)
            entry["read_bytes_per_s"] = round(consumed / dt, 3)
            read_bps += consumed / dt
        group_list.append(entry)
    apps = [t for t in topics if not t["internal"]]
    totals = {
        "brokers": len(info["brokers"]),
        "topics": len(apps), "internal_topics": len(topics) - len(apps),
        "partitions": sum(t["partitions"] for t in apps),
        "replicas": sum(t["partitions"] * t["replication_factor"] for t in apps),
        "messages": sum(t["messages"] for t in apps),
        "size_bytes": sum(t["size_bytes"] for t in apps) if size_one is not None else None,
        "size_bytes_all_replicas": sum(t["size_bytes_all_replicas"] for t in apps) if size_all is not None else None,
        "groups": len(group_list),
        "total_lag": sum(g["lag"] or 0 for g in group_list),
    }
    if traffic is not None:
        app_names = set(t["name"] for t in apps)
        if app_names:
            app_samples = [(ts, dict((k, v) for k, v in sm.items() if k[0] in app_names)) for ts, sm in obs["samples"]]
            app_traffic = traffic_from_samples(app_samples, obs["start0"], obs["start1"], obs["size0"], obs["size1"],
                                               obs["size_end0"], obs["size_end1"])[1]
        else:
            app_traffic = dict(traffic, messages_per_s=0.0, bytes_per_s=0.0, peak_messages_per_s=0.0, peak_bytes_per_s=0.0)
        traffic = dict((k, round(v, 3) if isinstance(v, float) else v) for k, v in app_traffic.items())
        traffic["read_bytes_per_s"] = round(read_bps, 3) if read_known else None
    traffic_out = traffic or {"window_s": 0, "samples": 1, "messages_per_s": None, "bytes_per_s": None,
                              "peak_messages_per_s": None, "peak_bytes_per_s": None, "read_bytes_per_s": None}
    traffic_out["size_source"] = ("DescribeLogDirs via kafka-python" if size_one is not None else "unavailable")
    spec = dict(info, totals=totals, traffic=traffic_out,
                internal_topics=[{"name": t["name"], "kind": t["internal_kind"]} for t in topics if t["internal"]],
                topics=topics, groups=group_list, duration_s=round(time.monotonic() - started, 3))
    return spec, apps, warnings


def read_target(target, include_versions=True):
    """Reachability, brokers, version and non-internal topics of the target (read-only)."""
    warnings = []
    view = view_of(target)
    target = view.cluster
    info = view.describe()  # reachability and credentials first: fails fast with the cause
    probe = SizeProbe(target, warnings) if include_versions else None
    try:
        ids = [b["id"] for b in info["brokers"]]
        versions, features = probe.versions(ids) if probe else ({}, None)
        bconf, berr = view.broker_configs(ids)
        for b, err in berr.items():
            warnings.append("%s: broker %s configs unavailable: %s" % (target, b, err))
    finally:
        if probe:
            probe.close()
    zk = any((c.get("zookeeper.connect") or "") for c in bconf.values())
    roles = any(c.get("process.roles") for c in bconf.values())
    topics = {}
    internal = []
    for name, count in view.topics().items():
        if is_internal(name):
            internal.append(name)
            continue
        topics[name] = count
    probed = sorted(set(v for v in versions.values() if v))
    level = None
    if features and isinstance(features.get("metadata.version"), dict) and features["metadata.version"].get("finalized"):
        level = features["metadata.version"]["finalized"][1]
    return {
        "reachable": True, "cluster_id": info["cluster_id"], "brokers": len(info["brokers"]),
        "broker_ids": ids, "racks": sorted(set(b["rack"] for b in info["brokers"] if b["rack"])),
        "controller_mode": "zookeeper" if zk else ("kraft" if roles or features else "unknown"),
        "version": {"reported": probed[0] if probed else None, "probed": dict((str(k), v) for k, v in versions.items()),
                    "metadata_version_level": level},
        "topics": topics, "internal_topics": sorted(internal),
        "broker_message_max_bytes": _int(next(iter(bconf.values()), {}).get("message.max.bytes")),
    }, warnings


def version_tuple(text):
    if not text:
        return None
    nums = re.findall(r"\d+", text)
    return tuple(int(n) for n in nums[:2]) if len(nums) >= 2 else None


def preflight(target, source_spec, apps, limits, limits_source, needs=None, rename=None, rename_rule="underscore",
              source=None, groups_read=True):
    """Step 2: read the target and check the source's topics against it and its limits.

    The caller has made sure first that the target is not the source (:func:`admin.ensure_distinct`).

    A target with ``api: alibaba`` also gets :func:`name_checks` (result key ``names``) over the
    selected topics and the groups the spec lists (:func:`migrating_groups`), with ``rename`` /
    ``rename_rule`` as every step takes them; clashes are then about the target names. ``source``:
    the source cluster, read once more for all its topic names (renamed topics must not land on
    another source topic); the spec's topics stand in without it. ``groups_read``: False when the spec
    read no groups (a warning says their names were not checked). The name checks need nothing from
    the instance; its GetInstanceList entry (read-only, one bounded call: :func:`read_instance`) is
    added as ``instance`` when it can be read, a warning says why otherwise. A Kafka target accepts
    every source name: no ``names`` key.
    """
    tinfo, warnings = read_target(target)
    cluster = view_of(target).cluster
    names_result, name_problems, target_names, instance = None, [], None, None
    if getattr(cluster, "api", "kafka") == "alibaba":
        api = cluster.alibaba
        topic_names = ali.TopicNames.of(cluster, rename, rename_rule)
        every = source_topic_names(source) if source is not None else [t["name"] for t in source_spec.get("topics", [])]
        selected = [t["name"] for t in apps]
        names_result, name_problems = name_checks(selected, migrating_groups(source_spec.get("groups")), topic_names, every)
        target_names = dict((n, topic_names.target(n)) for n in selected if n not in names_result["refused_topics"])
        names_result["groups_checked"] = bool(groups_read)
        if not groups_read:
            warnings.append("consumer groups were not read (groups false): their names were not checked against the target's rule")
        instance = read_instance(api, warnings)
        if instance is not None and instance.get("ServiceStatus") != ali.RUNNING:
            name_problems.append({"kind": "instance_state", "severity": "warning",
                                  "detail": "%s is %s, not running: deploy it before topics are created (step 2)"
                                            % (api, instance["status"])})
    checks = preflight_checks(apps, tinfo, limits, needs, target_names)
    checks["problems"] = name_problems + checks["problems"]
    sv = version_tuple(source_spec["version"]["reported"])
    tv = version_tuple(tinfo["version"]["reported"])
    if sv and tv and tv < sv:
        checks["problems"].append({"kind": "version", "severity": "warning",
                                   "detail": "target reports %s, older than the source's %s: clients relying on newer APIs may fail" % (
                                       tinfo["version"]["reported"], source_spec["version"]["reported"])})
    mmb = tinfo.get("broker_message_max_bytes")
    if mmb:
        for t in apps:
            if (_int(t.get("max_message_bytes"), 0) or 0) > mmb and "max.message.bytes" not in (t.get("configs") or {}):
                checks["problems"].append({"kind": "message_size", "severity": "warning", "topic": t["name"],
                                           "detail": "source accepts %s B messages, target brokers' message.max.bytes is %d: "
                                                     "set max.message.bytes on the target topic" % (t["max_message_bytes"], mmb)})
    out = dict(checks)
    out.update(reachable=True, cluster_id=tinfo["cluster_id"], brokers=tinfo["brokers"], racks=tinfo["racks"],
               controller_mode=tinfo["controller_mode"], version=tinfo["version"], limits=limits, limits_source=limits_source,
               existing_topics=len(tinfo["topics"]), existing_partitions=sum(tinfo["topics"].values()),
               warnings=warnings)
    if names_result is not None:
        out["names"] = names_result
        if instance is not None:
            out["instance"] = instance
    out["fits"] = not any(p["severity"] == "error" for p in out["problems"])
    return out
