# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Consumer groups on the target that start exactly where they must (procedure steps 4 and 6).

Plain Python (no AnsibleModule here). :func:`sync_groups` does the whole job in three phases:

1. **read** (batched, concurrent, all through :class:`admin.ClusterView`: its one retry policy, its
   one rule of what a missing topic is): the source groups' committed offsets (``require_stable``)
   and states, the target groups' states and committed offsets, the target topics' partitions, and
   the target log start / end / stable / timestamp offsets of every partition involved (one
   ListOffsets call per kind of offset, one per distinct timestamp);
2. **plan and validate**: the wanted offset of every (group, topic, partition) from its policy
   (:func:`plan_partition`); any bad input, missing topic, untranslatable offset or offset outside the
   target log is collected, and if there is one, the task fails *before anything is altered*;
3. **alter**: one ``alter_consumer_group_offsets`` call per changed group (the API takes one group
   per call), all issued at once, results collected per group.

Never rewind: only partitions the target group has **no** committed offset for are written. A
partition the target group already committed (its consumers ran on the target, or an earlier sync
placed it) is ``kept`` as it is and reported with both offsets (``current_offset``, and the
``offset`` the policy gives), unless the group (or the module) says ``overwrite``: then a partition
whose offset differs is ``overwritten``. So a second run changes nothing, and a run after the cutover
never moves the new consumers back (or forward past records they have not processed). Planning
problems of kept partitions are warnings, not failures: nothing is written there.

Groups with active members on the target are never altered (Kafka refuses it, and forcing it would
race the members' own commits): they are listed in ``active_groups`` (status ``skipped_active``), or
fail the task with ``fail_on_active``.

Check mode previews a fresh set-up: a wanted topic missing on the target but present on the source is
planned as topic sync would create it (the source's partition count, an empty log: start = end =
stable = 0, no record for any timestamp), each row marked ``target_topic_missing`` (outside check mode
a missing topic fails the task before anything changes). With policy ``translate`` and no offset map
yet (the copy has not run), check mode plans each partition's fallback and warns; the real run needs
the map.

Policies (per group, per group and topic):

``earliest``  the target log start offset;
``latest``    the target last stable offset (the end a ``read_committed`` consumer sees; an open
              transaction's records are not skipped);
``translate`` the target offset of the first record the source group has not consumed yet, from the
              offset map the data copy keeps (:mod:`offsetmap`); partitions the source group never
              committed get the ``fallback`` (``earliest``, ``latest`` or ``fail``);
``timestamp`` the first target offset whose record timestamp is at or after ``timestamp``, or the
              last stable offset when there is none.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import errno
import re
import time

from ansible_collections.kafkaops.migration.plugins.module_utils.connection import HAS_CONFLUENT_KAFKA, KafkaOpsError
from ansible_collections.kafkaops.migration.plugins.module_utils import admin, alibaba, aligroups, offsetmap
from ansible_collections.kafkaops.migration.plugins.module_utils.admin import view_of

if HAS_CONFLUENT_KAFKA:
    from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, TopicPartition

POLICIES = ("earliest", "latest", "translate", "timestamp")
FALLBACKS = ("earliest", "latest", "fail")

# Group states in which the group has no members and its offsets may be altered.
_IDLE_STATES = ("EMPTY", "DEAD", "UNKNOWN")
_LEGAL_TOPIC = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")


# ---------------------------------------------------------------------------------------------
# Input: names, timestamps, rules
# ---------------------------------------------------------------------------------------------
def topic_name_error(name):
    """Why ``name`` is not a legal Kafka topic name, or None."""
    if not isinstance(name, str) or not name:
        return "topic name must be a non-empty string, got %r" % (name,)
    if name in (".", ".."):
        return "topic name %r is not allowed" % name
    if not _LEGAL_TOPIC.match(name):
        return "topic name %r is illegal: use at most 249 of [a-zA-Z0-9._-]" % name
    return None


def group_name_error(name):
    """Why ``name`` is not a usable consumer group id, or None."""
    if not isinstance(name, str) or not name.strip():
        return "group name must be a non-empty string, got %r" % (name,)
    if name != name.strip():
        return "group name %r has leading or trailing white space" % name
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "group name %r contains control characters" % name
    return None


def parse_timestamp(value):
    """Milliseconds since the epoch from an int, a digit string or an ISO 8601 date-time.

    An ISO 8601 value must carry its time zone (``Z`` or ``+hh:mm``): a naive time would depend
    on the controller's clock settings.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("timestamp must be milliseconds since the epoch or an ISO 8601 date-time, got %r" % value)
    if isinstance(value, (int, float)):
        ms = int(value)
    else:
        text = str(value).strip()
        if re.match(r"^-?\d+$", text):
            ms = int(text)
        else:
            iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
            try:
                when = datetime.datetime.fromisoformat(iso)
            except ValueError:
                raise ValueError("timestamp %r is neither milliseconds since the epoch nor an ISO 8601 date-time" % text)
            if when.tzinfo is None:
                raise ValueError("timestamp %r has no time zone: add Z or +hh:mm" % text)
            epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
            delta = when - epoch
            ms = (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000
    if ms < 0:
        raise ValueError("timestamp %r is before 1970" % (value,))
    return ms


class Rule:
    """How to place one topic of one group: policy, timestamp (ms) and fallback."""

    def __init__(self, policy, timestamp=None, fallback="earliest"):
        self.policy = policy
        self.timestamp = timestamp
        self.fallback = fallback

    def merged(self, entry, where, errors):
        """A copy overridden by the non-empty ``policy``/``timestamp``/``fallback`` of ``entry``."""
        rule = Rule(self.policy, self.timestamp, self.fallback)
        if entry.get("policy") is not None:
            rule.policy = entry["policy"]
        if entry.get("fallback") is not None:
            rule.fallback = entry["fallback"]
        if entry.get("timestamp") not in (None, ""):
            try:
                rule.timestamp = parse_timestamp(entry["timestamp"])
            except ValueError as exc:
                errors.append("%s: %s" % (where, exc))
        rule.check(where, errors)
        return rule

    def check(self, where, errors):
        if self.policy not in POLICIES:
            errors.append("%s: policy must be one of %s, got %r" % (where, ", ".join(POLICIES), self.policy))
        if self.fallback not in FALLBACKS:
            errors.append("%s: fallback must be one of %s, got %r" % (where, ", ".join(FALLBACKS), self.fallback))
        if self.policy == "timestamp" and self.timestamp is None:
            errors.append("%s: policy timestamp needs a timestamp" % where)

    def as_dict(self):
        return {"policy": self.policy, "timestamp": self.timestamp, "fallback": self.fallback}

    def __eq__(self, other):
        return isinstance(other, Rule) and self.as_dict() == other.as_dict()

    def __repr__(self):
        return "Rule(%r, %r, %r)" % (self.policy, self.timestamp, self.fallback)


class GroupRequest:
    """One group to sync: its topics (None = those the source group committed), rules, and whether
    partitions it already committed on the target may be overwritten."""

    def __init__(self, name, topics, rule, topic_rules, overwrite=False):
        self.name = name
        self.topics = topics
        self.rule = rule
        self.topic_rules = topic_rules
        self.overwrite = overwrite

    def rule_for(self, topic):
        return self.topic_rules.get(topic, self.rule)


def default_overwrite_of(params, errors=None):
    """The module-level ``overwrite`` (default false); a non-boolean is an error."""
    value = params.get("overwrite")
    if value is None:
        return False
    if not isinstance(value, bool):
        if errors is not None:
            errors.append("overwrite must be true or false, got %r" % (value,))
        return False
    return value


def normalize_request(params):
    """Check the module's options; return ``(requests or None, errors)``.

    ``requests`` is None when ``groups`` is not given (all source groups matching
    ``group_pattern``; resolved against the source by :func:`sync_groups`).
    """
    errors = []
    try:
        default_ts = parse_timestamp(params.get("timestamp"))
    except ValueError as exc:
        errors.append(str(exc))
        default_ts = None
    default = Rule(params.get("policy") or "earliest", default_ts, params.get("fallback") or "earliest")
    default_overwrite = default_overwrite_of(params, errors)
    if params.get("groups") is None:
        default.check("options", errors)
        pattern = params.get("group_pattern")
        if pattern:
            try:
                re.compile(pattern)
            except re.error as exc:
                errors.append("group_pattern %r is not a regular expression: %s" % (pattern, exc))
        return None, default, errors
    requests, seen = [], set()
    for i, entry in enumerate(params["groups"]):
        if not isinstance(entry, dict):
            errors.append("groups[%d] must be a dict with a name" % i)
            continue
        name = entry.get("name")
        problem = group_name_error(name)
        if problem:
            errors.append("groups[%d]: %s" % (i, problem))
            continue
        if name in seen:
            errors.append("group %r is listed twice" % name)
            continue
        seen.add(name)
        rule = default.merged(entry, "group %r" % name, errors)
        topics = entry.get("topics")
        if topics is not None:
            if not topics:
                errors.append("group %r: topics is empty (omit it to use the topics the source group committed)" % name)
            for topic in topics:
                problem = topic_name_error(topic)
                if problem:
                    errors.append("group %r: %s" % (name, problem))
            topics = sorted(set(topics))
        topic_rules = {}
        for j, tentry in enumerate(entry.get("topic_policies") or []):
            tname = tentry.get("topic") if isinstance(tentry, dict) else None
            problem = topic_name_error(tname)
            if problem:
                errors.append("group %r: topic_policies[%d]: %s" % (name, j, problem))
                continue
            if tname in topic_rules:
                errors.append("group %r: topic %r has two topic_policies" % (name, tname))
                continue
            if topics is not None and tname not in topics:
                errors.append("group %r: topic_policies names topic %r, which is not in its topics" % (name, tname))
            topic_rules[tname] = rule.merged(tentry, "group %r topic %r" % (name, tname), errors)
        overwrite = entry.get("overwrite")
        if overwrite is None:
            overwrite = default_overwrite
        elif not isinstance(overwrite, bool):
            errors.append("group %r: overwrite must be true or false, got %r" % (name, overwrite))
            overwrite = False
        requests.append(GroupRequest(name, topics, rule, topic_rules, overwrite))
    if not requests and not errors:
        errors.append("groups is empty: name at least one group, or omit groups to sync every source group")
    return requests, default, errors


# ---------------------------------------------------------------------------------------------
# The arithmetic of one partition
# ---------------------------------------------------------------------------------------------
class PartitionError(Exception):
    pass


UNCHECKED = object()


def source_check_window(omap, topic, partition, source_offset):
    """Source offsets whose content decides a translation: ``(kind, start, stop)`` or None.

    The offset map only knows what was copied, not what the copy skipped before its first run or
    has not read yet, so two cases need a look at the source log (``read_committed``):

    ``below``  the committed offset is below the first copied record (or nothing was copied and it
               is below the resume point): if ``[start, stop)`` holds no committed record (only
               aborted records, markers or compacted offsets) the group starts at the first copied
               record; otherwise unprocessed records were never copied, an error;
    ``past``   the committed offset is past the copy's resume point: if ``[start, stop)`` holds a
               committed record, the group processed records the copy has not reached yet, and
               translating now would deliver them twice on the target, an error; otherwise (only
               transaction markers, typically the one after the last record) it is ``after_copied``.
    """
    if omap is None or source_offset is None:
        return None
    pm = omap.partitions.get((topic, int(partition)))
    if pm is None:
        return None
    c = int(source_offset)
    if pm.runs and c < pm.runs[0][0]:
        return ("below", c, pm.runs[0][0])
    if not pm.runs and pm.source_next is not None and c < pm.source_next:
        return ("below", c, pm.source_next)
    if pm.source_next is not None and c > pm.source_next:
        return ("past", pm.source_next, c)
    return None


def plan_partition(rule, source_offset, bounds, omap=None, topic=None, partition=None, found=UNCHECKED):
    """The wanted target offset of one partition: ``(offset, how)``; raise PartitionError.

    ``source_offset`` is the source group's committed offset (None when it has none). ``bounds``
    holds the target partition's ``start`` (log start), ``end`` (high watermark), ``stable``
    (last stable offset) and, for the ``timestamp`` policy, ``at_time`` (offset for the rule's
    timestamp, -1 when no record is that recent). ``how`` says what decided the offset:
    ``earliest``, ``latest``, ``timestamp``, ``timestamp-none-after`` (log end),
    ``translate-mapped``, ``translate-gap``, ``translate-after_copied``, or ``fallback-earliest`` /
    ``fallback-latest``.
    """
    policy = rule.policy
    if policy == "translate" and source_offset is None:
        if rule.fallback == "fail":
            raise PartitionError("the source group has no committed offset here and fallback is fail")
        policy, prefix = rule.fallback, "fallback-"
    else:
        prefix = ""
    if policy == "earliest":
        return bounds["start"], prefix + "earliest"
    if policy == "latest":
        return bounds["stable"], prefix + "latest"
    if policy == "timestamp":
        at = bounds.get("at_time")
        if at is None:
            raise PartitionError("no offset for the timestamp was fetched")
        if at < 0:
            return bounds["stable"], "timestamp-none-after"
        return at, "timestamp"
    if policy == "translate":
        if omap is None:
            raise PartitionError("policy translate needs an offset map")
        window = source_check_window(omap, topic, partition, source_offset)
        if window is not None and found is not UNCHECKED:
            kind, start, stop = window
            pm = omap.partitions[(topic, int(partition))]
            if kind == "below":
                if found is not None:
                    raise PartitionError(
                        "source offset %d is below the first copied offset %d and the source still holds committed "
                        "record %d, which the group has not processed and was never copied" % (source_offset, stop, found))
                offset = pm.runs[0][1] if pm.runs else pm.target_next
                return offset, "translate-gap" if pm.runs else "translate-after_copied"
            if found is not None:
                raise PartitionError(
                    "the source group committed %d, but source record %d was not copied yet (the copy has read up to "
                    "%d): let the copy catch up, then sync again" % (source_offset, found, start))
        try:
            offset, case = omap.translate(topic, partition, source_offset)
        except offsetmap.TranslationError as exc:
            raise PartitionError(str(exc))
        if offset is None:
            raise PartitionError("the offset map of %s:%d has no target position" % (topic, partition))
        return offset, "translate-" + case
    raise PartitionError("unknown policy %r" % policy)


def check_in_log(offset, bounds):
    """Why ``offset`` is outside the target partition's log, or None."""
    if offset > bounds["end"]:
        return "offset %d is beyond the target log end %d" % (offset, bounds["end"])
    if offset < bounds["start"]:
        return "offset %d is below the target log start %d (deleted by retention)" % (offset, bounds["start"])
    return None


# Partition statuses (``groups[].partitions[].status``).
SET, KEPT, UNCHANGED, OVERWRITTEN = "set", "kept", "unchanged", "overwritten"
WOULD_BE_CREATED = "would be created by topic sync"


def partition_status(current, offset, overwrite):
    """``(status, changed)`` of one partition: never rewind, never move what the target committed.

    ``set``          no committed offset on the target: written;
    ``kept``         the target group already committed it and ``overwrite`` is off: left as it is
                     (whether or not the policy's offset differs);
    ``unchanged``    ``overwrite`` is on and the committed offset already is the policy's;
    ``overwritten``  ``overwrite`` is on and the committed offset differs: written.
    """
    if current is None:
        return SET, True
    if not overwrite:
        return KEPT, False
    if offset == current:
        return UNCHANGED, False
    return OVERWRITTEN, True


def empty_log_bounds(timestamps=()):
    """The bounds of a partition topic sync would create: an empty log (no record for any time)."""
    return {"start": 0, "end": 0, "stable": 0, "at": dict((ts, -1) for ts in timestamps)}


def plan_without_map(rule, source_offset, bounds):
    """Check-mode plan of a ``translate`` partition that cannot be translated yet (no offset map, or
    the target topic does not exist yet): the fallback, as :func:`plan_partition` names it.

    With fallback ``fail`` a partition without a source commit is an error (the real run fails
    there too); one with a source commit is ``(None, "translate-pending")``: only the copy can say.
    """
    if rule.fallback == "fail":
        if source_offset is None:
            raise PartitionError("the source group has no committed offset here and fallback is fail")
        return None, "translate-pending"
    return plan_partition(Rule(rule.fallback), None, bounds)[0], "fallback-" + rule.fallback


def group_diff(rows):
    """``{topic: {partition: offset}}`` before (current) and after (new) of one group's rows."""
    before, after = {}, {}
    for r in rows:
        if r["current_offset"] is not None:
            before.setdefault(r["topic"], {})[str(r["partition"])] = r["current_offset"]
        after.setdefault(r["topic"], {})[str(r["partition"])] = r["offset"] if r["offset"] is not None else r["current_offset"]
    return before, after


# ---------------------------------------------------------------------------------------------
# Reads: everything through admin.ClusterView (one retry policy, one unknown-topic rule)
# ---------------------------------------------------------------------------------------------
def source_groups(view, pattern=None):
    """``(group ids, warnings)``: the cluster's consumer groups matching ``pattern`` (``re.search``),
    the groups of this collection's own clients left out (:func:`admin.select_groups`).

    A listing that some broker could not answer is named in the warnings: its groups may be missing.
    """
    ids, errors = view.list_groups()
    warnings = []
    if errors:
        warnings.append("%s: listing consumer groups was incomplete, groups of the brokers that failed are not synced: %s"
                        % (view, "; ".join(errors[:5])))
    return admin.select_groups(ids, pattern), warnings


def bounds_kinds(tps, timestamps=None):
    """``{kind: [(topic, partition), ...]}``: the ListOffsets calls the bounds of ``tps`` need.

    Log start, high watermark and last stable offset of every partition, and one ``("at", ms)`` per
    distinct timestamp for the partitions whose rule asks for it (``timestamps``:
    ``{(topic, partition): set of ms}``).
    """
    tps = sorted(set(tps))
    if not tps:
        return {}
    wanted = {"start": tps, "end": tps, "stable": tps}
    for tp, stamps in (timestamps or {}).items():
        for ts in stamps:
            wanted.setdefault(("at", ts), []).append(tp)
    for kind in wanted:
        wanted[kind] = sorted(set(wanted[kind]))
    return wanted


def bounds_from(tps, offsets):
    """``{(topic, partition): {"start", "end", "stable", "at": {ms: offset}}}`` from ``{kind: {tp: offset}}``."""
    out = dict((tp, {"at": {}}) for tp in sorted(set(tps)))
    for kind, by_tp in offsets.items():
        for tp, offset in by_tp.items():
            if isinstance(kind, tuple):
                out[tp]["at"][kind[1]] = offset
            else:
                out[tp][kind] = offset
    return out


def partition_bounds(view, tps, timestamps=None):
    """The bounds (:func:`bounds_from`) of target partitions: one ListOffsets call per kind of offset
    (:func:`bounds_kinds`: start, end, stable, one per distinct timestamp), all in flight at once,
    through :meth:`admin.ClusterView.offsets_of_kinds`. Any partition that cannot be read raises."""
    wanted = bounds_kinds(tps, timestamps)
    if not wanted:
        return {}
    kinds = [k for k in ("start", "end", "stable") if k in wanted] + sorted(k for k in wanted if isinstance(k, tuple))
    offsets, errors = view.offsets_of_kinds(wanted, kinds)
    if errors:
        gone = sorted(set(tp[0] for (_kind, tp), text in errors.items() if admin.is_unknown_topic(text)))
        first = sorted(errors.items(), key=lambda kv: str(kv[0]))[:5]
        raise KafkaOpsError("%s: listing offsets failed for %d partition(s)%s: %s" % (
            view, len(errors), " (topics %s no longer exist)" % ", ".join(gone) if gone else "",
            "; ".join("%s %s:%d: %s" % (_kind_text(k[0]), k[1][0], k[1][1], v) for k, v in first)))
    return bounds_from(tps, offsets)


def _kind_text(kind):
    return "at %s" % kind[1] if isinstance(kind, tuple) else kind


def first_committed_records(cluster, windows):
    """For each ``(topic, partition, start, stop)`` the offset of the first committed record in
    ``[start, stop)`` of the cluster's log, or None when there is none (``read_committed``).

    One consumer reads every partition involved from its lowest ``start`` and stops reading a
    partition as soon as each of its windows is decided; bounded by the cluster's timeouts.
    """
    if not windows:
        return {}
    by_tp = {}
    for t, p, start, stop in windows:
        by_tp.setdefault((t, p), []).append((start, stop))
    out = {}
    consumer = cluster.consumer(**{"isolation.level": "read_committed", "enable.partition.eof": True,
                                   "auto.offset.reset": "earliest", "group.id": "kafkaops-migration-source-probe"})
    try:
        consumer.assign([TopicPartition(t, p, min(w[0] for w in ws)) for (t, p), ws in sorted(by_tp.items())])
        pending = dict((tp, sorted(set(ws))) for tp, ws in by_tp.items())
        idle_since = time.monotonic()
        while pending:
            # poll(), not consume(n): consume waits for n messages or the whole timeout.
            m = consumer.poll(min(0.5, cluster.timeout()))
            if m is None:
                if time.monotonic() - idle_since > cluster.timeout():
                    raise KafkaOpsError("%s: timed out reading partitions %s to check the offset translation" % (
                        cluster, ", ".join("%s:%d" % tp for tp in sorted(pending))))
                continue
            idle_since = time.monotonic()
            for m in [m]:
                tp = (m.topic(), m.partition())
                if tp not in pending:
                    continue
                err = m.error()
                if err is not None and err.code() != KafkaError._PARTITION_EOF:
                    raise KafkaOpsError("%s: reading %s:%d failed: %s" % (cluster, tp[0], tp[1], err.str()))
                left = []
                for start, stop in pending[tp]:
                    if err is not None:
                        out[(tp[0], tp[1], start, stop)] = None
                    elif m.offset() >= start:
                        out[(tp[0], tp[1], start, stop)] = m.offset() if m.offset() < stop else None
                    else:
                        left.append((start, stop))
                if left:
                    pending[tp] = left
                else:
                    del pending[tp]
                    consumer.pause([TopicPartition(tp[0], tp[1])])
    finally:
        consumer.close()
    return out


class OffsetMapMissing(KafkaOpsError):
    """The offset map is not there (yet): its topic or file does not exist."""


def load_offset_map(target, topic=None, path=None):
    """The offset map from a checkpoint file (``path``) or the map topic on the target.

    Raises :class:`OffsetMapMissing` when the file or the topic does not exist (the copy has not
    run), KafkaOpsError for anything else.
    """
    topic = alibaba.map_topic_for(target, topic)
    where = path or "topic %s" % topic
    try:
        if path:
            return offsetmap.OffsetMap.from_file(path)
        return offsetmap.load_from_topic(target, topic)
    except (IOError, OSError) as exc:
        if getattr(exc, "errno", None) == errno.ENOENT:
            raise OffsetMapMissing("cannot read offset_map_file %s: %s" % (path, exc))
        raise KafkaOpsError("cannot read offset_map_file %s: %s" % (path, exc))
    except (ValueError, KeyError, TypeError) as exc:  # TranslationError, bad JSON, missing fields
        if isinstance(exc, offsetmap.TranslationError) and "not found" in str(exc):
            raise OffsetMapMissing("cannot use the offset map (%s): %s" % (where, exc))
        raise KafkaOpsError("cannot use the offset map (%s): %s" % (where, exc))


def alter_offsets(cluster, changes):
    """Alter each group's offsets: ``changes`` is ``{group: [(topic, partition, offset), ...]}``.

    One call per group (the API takes one group per request), all issued before any is awaited.
    Returns ``(done groups, {group: error})``.
    """
    requests = [ConsumerGroupTopicPartitions(g, [TopicPartition(t, p, o) for t, p, o in rows])
                for g, rows in sorted(changes.items())]
    futures = {}
    kwargs = cluster.request_kwargs()
    for req in requests:
        try:
            futures.update(cluster.admin.alter_consumer_group_offsets([req], **kwargs))
        except Exception as exc:
            raise cluster.fail("alter offsets of group %r" % req.group_id, exc)
    ok, errors = cluster.results(futures, "alter consumer group offsets")
    done = []
    for g, res in ok.items():
        bad = ["%s:%d: %s" % (tp.topic, tp.partition, tp.error.str()) for tp in (res.topic_partitions or []) if tp.error]
        if bad:
            errors[g] = "; ".join(bad)
        else:
            done.append(g)
    return sorted(done), errors


# ---------------------------------------------------------------------------------------------
# The whole job
# ---------------------------------------------------------------------------------------------
def sync_groups(source, target, params, check_mode=False):
    """Plan, validate and (unless ``check_mode``) apply; return the result dict or raise KafkaOpsError.

    ``params`` holds the module options: ``groups``, ``group_pattern``, ``policy``, ``timestamp``,
    ``fallback``, ``overwrite``, ``offset_map_topic``, ``offset_map_file``, ``fail_on_active``.
    ``source`` and ``target`` are :class:`connection.Cluster` or :class:`admin.ClusterView`; the caller
    has made sure they are two clusters (:func:`admin.ensure_distinct`).
    """
    requests, default, errors = normalize_request(params)
    if errors:
        raise KafkaOpsError("invalid options: %s" % "; ".join(errors), errors=errors)
    source, target = view_of(source), view_of(target)
    result = {"changed": False, "groups": [], "active_groups": [], "warnings": []}
    if requests is None:
        names, listing_warnings = source_groups(source, params.get("group_pattern"))
        result["warnings"].extend(listing_warnings)
        overwrite = default_overwrite_of(params)
        requests = [GroupRequest(n, None, default, {}, overwrite) for n in names]
    names = [r.name for r in requests]
    if not names:
        result["warnings"].append("no source group matches group_pattern %r" % params.get("group_pattern"))
        return result
    # The target's topic names: the one rule of every step (alibaba.TopicNames: rename map, then the
    # default rule where the target refuses a name), so that offsets land on the topic topic sync made.
    on_alibaba = getattr(target.cluster, "api", "kafka") == "alibaba"
    try:
        topic_names = alibaba.TopicNames.of(target, params.get("rename"), params.get("rename_rule"))
    except alibaba.AlibabaError as exc:
        raise KafkaOpsError("invalid options: %s" % exc.msg)
    group_plan = aligroups.GroupPlan(target.cluster.alibaba, names).read() if on_alibaba else None

    # 1. read: source commits (stable: transactional commits settled), group states on both sides,
    # target commits.
    source_committed = source.committed(names, require_stable=True)
    source_states = source.groups(names)
    target_states = target.groups(names)
    target_committed = target.committed(names)

    # 2. which topics, which rules; the offset map when any rule translates.
    wanted_topics = {}
    problems = []
    for req in requests:
        topics = req.topics if req.topics is not None else sorted(set(tp[0] for tp in source_committed[req.name]))
        wanted_topics[req.name] = topics
        if not topics:
            if params.get("groups") is not None:
                problems.append("group %r has no committed offsets on the source: give its topics" % req.name)
            else:
                result["warnings"].append("source group %r has no committed offsets: left alone" % req.name)
    uses_translate = any(req.rule_for(t).policy == "translate" for req in requests for t in wanted_topics[req.name])
    omap = None
    map_missing = False
    if uses_translate:
        try:
            omap = load_offset_map(target.cluster, params.get("offset_map_topic"), params.get("offset_map_file"))
        except OffsetMapMissing as exc:
            if not check_mode:
                raise
            map_missing = True
            result["warnings"].append(
                "%s: the copy has not run yet, so partitions with policy translate are planned with their fallback "
                "in this check-mode run; the real run needs the offset map (run the copy first)" % exc.msg)

    mapped = {}
    if omap is not None:
        for key, pm in omap.partitions.items():
            mapped.setdefault(key[0], pm.target_topic)

    def target_topic_of(topic):
        # the copy's offset map knows where it wrote each topic; a rename map must agree with it
        return mapped.get(topic) or topic_names.target(topic)

    if topic_names.active:
        for ts in wanted_topics.values():
            for t in ts:
                if t in mapped and mapped[t] != topic_names.target(t):
                    problems.append("topic %r was copied to %r, but the rename map and rule give %r: give one name"
                                    % (t, mapped[t], topic_names.target(t)))
    if group_plan is not None:
        problems.extend(group_plan.problems())

    all_target_topics = sorted(set(target_topic_of(t) for ts in wanted_topics.values() for t in ts))
    counts, missing = target.partitions(all_target_topics)
    # Check mode previews a fresh set-up: a topic topic sync would create (it exists on the source)
    # is planned with the source's partition count and an empty log.
    planned = {}
    if check_mode and missing:
        sources_of = {}
        for ts in wanted_topics.values():
            for t in ts:
                if target_topic_of(t) in missing:
                    sources_of.setdefault(target_topic_of(t), set()).add(t)
        source_counts, _gone = source.partitions(sorted(set(s for ss in sources_of.values() for s in ss)))
        for t in missing:
            have = sorted(source_counts[s] for s in sources_of.get(t, ()) if s in source_counts)
            if have:
                planned[t] = have[-1]
                counts[t] = have[-1]
                result["warnings"].append(
                    "topic %r does not exist on the target: planned as topic sync would create it (%d partitions from "
                    "the source, an empty log); every partition of it %s" % (t, have[-1], WOULD_BE_CREATED))
    for t in missing:
        if t in planned:
            continue
        users = sorted(r.name for r in requests if t in [target_topic_of(x) for x in wanted_topics[r.name]])
        problems.append("topic %r does not exist on the target (groups %s)" % (t, ", ".join(users)))

    # Rows: one per (group, topic, partition) of the target topic.
    rows_by_group = {}
    timestamps = {}
    for req in requests:
        rows = []
        committed = source_committed[req.name]
        current = target_committed.get(req.name, {})
        for topic in wanted_topics[req.name]:
            ttopic = target_topic_of(topic)
            if ttopic not in counts:
                continue
            rule = req.rule_for(topic)
            nparts = counts[ttopic]
            extra = sorted(p for (t, p) in committed if t == topic and p >= nparts)
            if extra:
                problems.append("group %r committed partitions %s of %r on the source, but the target topic %r has only %d"
                                % (req.name, extra, topic, ttopic, nparts))
            for p in range(nparts):
                row = {"topic": ttopic, "partition": p, "policy": rule.policy,
                       "source_offset": committed.get((topic, p)), "current_offset": current.get((ttopic, p)),
                       "fallback": False, "_rule": rule, "_source_topic": topic}
                if ttopic != topic:
                    row["source_topic"] = topic
                if ttopic in planned:
                    row["target_topic_missing"] = True
                    row["note"] = WOULD_BE_CREATED
                if rule.policy == "timestamp":
                    timestamps.setdefault((ttopic, p), set()).add(rule.timestamp)
                rows.append(row)
        rows_by_group[req.name] = rows
    bounds = partition_bounds(target, [(r["topic"], r["partition"]) for rows in rows_by_group.values() for r in rows
                                       if r["topic"] not in planned],
                              dict((tp, ts) for tp, ts in timestamps.items() if tp[0] not in planned))
    for t in planned:
        for p in range(planned[t]):
            bounds[(t, p)] = empty_log_bounds(timestamps.get((t, p), ()))

    def writable(req, row):
        return row["current_offset"] is None or req.overwrite

    # Translations the offset map alone cannot settle: look at the source log once for all of them
    # (only for partitions that may be written: a kept partition needs no translation).
    windows = {}
    if omap is not None:
        for req in requests:
            for row in rows_by_group[req.name]:
                if row["_rule"].policy == "translate" and row["topic"] not in planned and writable(req, row):
                    w = source_check_window(omap, row["_source_topic"], row["partition"], row["source_offset"])
                    if w is not None:
                        row["_window"] = (row["_source_topic"], row["partition"], w[1], w[2])
                        windows[row["_window"]] = True
    found = first_committed_records(source.cluster, sorted(windows))

    # 3. plan and validate every partition. A partition that is kept is never written: what its
    # plan says is reported (and warned about when it cannot be planned), never a failure.
    for req in requests:
        for row in rows_by_group[req.name]:
            tp = (row["topic"], row["partition"])
            b = dict(bounds[tp])
            rule = row["_rule"]
            if rule.policy == "timestamp":
                b["at_time"] = b["at"].get(rule.timestamp)
            row["log_start"], row["log_end"] = b["start"], b["end"]
            where = "group %r %s:%d" % (req.name, row["topic"], row["partition"])
            try:
                if rule.policy == "translate" and (map_missing or row["topic"] in planned):
                    if map_missing:
                        row["offset_map_missing"] = True
                    offset, how = plan_without_map(rule, row["source_offset"], b)
                else:
                    offset, how = plan_partition(rule, row["source_offset"], b, omap, row["_source_topic"],
                                                 row["partition"], found.get(row.get("_window"), UNCHECKED))
                outside = check_in_log(offset, b) if offset is not None else None
            except PartitionError as exc:
                offset, how, outside = None, "error", str(exc)
            row["offset"], row["how"] = offset, how
            row["fallback"] = how.startswith("fallback-")
            row["status"], row["changed"] = partition_status(row["current_offset"], offset, req.overwrite)
            if outside:
                row["error"] = outside
                if row["status"] == KEPT:
                    result["warnings"].append("%s: kept at %d (committed on the target); the policy cannot place it: %s"
                                              % (where, row["current_offset"], outside))
                else:
                    problems.append("%s: %s" % (where, outside))

    if problems:
        raise KafkaOpsError("nothing was changed: %s" % _summary(problems), problems=problems,
                            groups=_public_groups(requests, rows_by_group, source_states, target_states))

    # Active groups: left alone (or the task fails) before anything is altered.
    active = []
    for req in requests:
        st = target_states[req.name]
        if st["members"] > 0 or (st["state"] or "UNKNOWN") not in _IDLE_STATES:
            active.append(req.name)
    if active and params.get("fail_on_active"):
        raise KafkaOpsError("nothing was changed: group(s) %s have active members on the target; stop their consumers first"
                            % ", ".join(sorted(active)), active_groups=sorted(active),
                            groups=_public_groups(requests, rows_by_group, source_states, target_states))
    for req in requests:
        st = source_states[req.name]
        if st["members"] > 0 and any(r["policy"] == "translate" and r["changed"] for r in rows_by_group[req.name]):
            result["warnings"].append("group %r still has %d active member(s) on the source: its committed offsets may "
                                      "move on after this translation" % (req.name, st["members"]))

    changes = {}
    for req in requests:
        rows = rows_by_group[req.name]
        if req.name in active:
            for r in rows:
                if r["changed"]:
                    r["status"], r["changed"] = "skipped_active", False
            continue
        rows = [r for r in rows if r["changed"]]
        if rows:
            changes[req.name] = [(r["topic"], r["partition"], r["offset"]) for r in rows]

    groups_out = _public_groups(requests, rows_by_group, source_states, target_states)
    for g in groups_out:
        if g["name"] in active:
            g["status"] = "skipped_active"
        elif g["name"] in changes:
            g["status"] = "changed"
        else:
            g["status"] = "unchanged"
    result["groups"] = groups_out
    result["active_groups"] = sorted(active)
    result["changed"] = bool(changes)
    result["diff"] = _diff(groups_out, changes)
    renamed = topic_names.renamed(set(t for ts in wanted_topics.values() for t in ts))
    if renamed:
        result["renamed"] = renamed
    if group_plan is not None:
        # groups the instance does not list yet: created through the OpenAPI before any offset is set
        result["created_groups"] = list(group_plan.create)
        result["changed"] = result["changed"] or bool(group_plan.create)
        for g in group_plan.create:
            result["diff"]["after"].setdefault(g, {})
        if group_plan.create and not check_mode:
            try:
                group_plan.apply()
            except alibaba.AlibabaError as exc:
                raise KafkaOpsError("%s; no offset was set" % exc.msg, changed=bool(exc.details.get("created_groups")),
                                    groups=groups_out, **exc.details)
        result["api_calls"] = group_plan.api_calls()

    if changes and not check_mode:
        done, failed = alter_offsets(target.cluster, changes)
        for g in groups_out:
            if g["name"] in failed:
                g["status"] = "failed"
                g["error"] = failed[g["name"]]
        if failed:
            raise KafkaOpsError("altering offsets failed for group(s) %s (groups %s were altered): %s" % (
                ", ".join(sorted(failed)), ", ".join(done) or "none",
                "; ".join("%s: %s" % kv for kv in sorted(failed.items()))),
                changed=bool(done), groups=groups_out, altered=done, failed_groups=sorted(failed),
                active_groups=sorted(active))
    return result


def _summary(problems, limit=10):
    """The first ``limit`` problems, and how many there are in all (the full list is returned too)."""
    text = "; ".join(problems[:limit])
    if len(problems) > limit:
        text += "; and %d more (%d problems in all, listed in 'problems')" % (len(problems) - limit, len(problems))
    return text


def _public_groups(requests, rows_by_group, source_states, target_states):
    out = []
    for req in requests:
        rows = []
        kept = 0
        for r in rows_by_group.get(req.name, []):
            rows.append(dict((k, v) for k, v in r.items() if not k.startswith("_")))
            kept += r.get("status") == KEPT
        out.append({"name": req.name,
                    "source_state": source_states.get(req.name, {}).get("state"),
                    "target_state": target_states.get(req.name, {}).get("state"),
                    "target_members": target_states.get(req.name, {}).get("members"),
                    "overwrite": req.overwrite,
                    "kept_partitions": kept,
                    "partitions": rows})
    return out


def kept_text(groups_out, limit=50):
    """The ``--diff`` text for partitions kept at an offset other than the policy's (not changed)."""
    lines = []
    for g in groups_out:
        for r in g["partitions"]:
            if r.get("status") == KEPT and r.get("offset") != r.get("current_offset"):
                lines.append("  %s %s:%d kept at %d (not changed; the policy gives %s; overwrite: true rewrites it)\n" % (
                    g["name"], r["topic"], r["partition"], r["current_offset"],
                    "no offset" if r.get("offset") is None else r["offset"]))
    if not lines:
        return None
    more = "  ... and %d more\n" % (len(lines) - limit) if len(lines) > limit else ""
    return "partitions already committed on the target, left as they are:\n" + "".join(lines[:limit]) + more


def _diff(groups_out, changes):
    """Before/after of the partitions written; kept partitions (not changed) in ``prepared`` text."""
    before, after = {}, {}
    for g in groups_out:
        if g["name"] not in changes:
            continue
        changed_rows = [r for r in g["partitions"] if r.get("changed")]
        b, a = group_diff(changed_rows)
        before[g["name"]], after[g["name"]] = b, a
    out = {"before": before, "after": after}
    text = kept_text(groups_out)
    if text:
        out["prepared"] = text
    return out
