# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Consumer-group lag, the drained rule and the wait behind ``kafka_lag_wait`` (procedure step 8).

Plain Python (no AnsibleModule here).

The drained rule
    A group's *position* on a partition is its committed offset (the next record it will process),
    or the log start when it has committed nothing there. The naive lag ``log end - position``
    never reaches 0 on transactional topics: the log end counts the commit/abort *markers* (control
    records, one offset each) and the records of *aborted* transactions, none of which a consumer
    ever receives. A consumer that commits "offset of the last record + 1" therefore stays one offset
    (the marker) or more (an aborted transaction after it) behind for ever.

    So the lag is measured against the last offset a consumer can actually reach:

    * ``reach`` is the last stable offset (``list_offsets`` with ``READ_COMMITTED``) for
      ``read_committed`` consumers, the high watermark otherwise. Offsets below the last stable
      offset belong to decided transactions: what is there never changes.
    * Offsets in ``[position, reach)`` that hold nothing the group could receive (markers, aborted
      records, compacted gaps) are *proven* empty by reading them once with a consumer of the same
      isolation level that never commits (the *probe*): it either returns the first deliverable
      record (the group is behind) or reaches the end without one. What a probe learns is kept for
      the whole wait (offsets below the last stable offset never change), so each range is read at
      most once, and a partition where the group is behind costs one small fetch.
    * ``position'`` is the position advanced over the proven-empty offsets; ``lag = log end -
      position'``. A partition is **drained** when ``lag == 0``: nothing after the group's position
      can ever be delivered to it. ``lag`` is otherwise an upper bound of the records left (exact
      on topics without transactions or compaction).
    * Records of a transaction still open after the position (between the last stable offset and
      the log end) may yet be committed: such a partition is ``open_transaction``, never drained.

    The wait succeeds when every partition of every group has ``lag <= max_lag`` on every poll for
    ``stable_for`` seconds. Statuses: ``drained`` (lag 0), ``behind`` (a deliverable record is known
    at or after the position), ``open_transaction``, ``unknown`` (not proven yet, or an error).

``until: idle``
    The log ends (high watermarks) of the given topics did not move between polls for ``stable_for``
    seconds (at least two polls are compared): the producers are gone.

History file (JSON, rewritten atomically after every poll, so a killed run leaves it readable)::

    {"format": "kafkaops.migration.lag_history", "version": 1,
     "cluster": "host:port,...", "until": "drained", "groups": ["g1"], "topics": null,
     "isolation_level": "read_committed", "max_lag": 0, "interval": 5.0, "stable_for": 0.0,
     "timeout": 600.0, "started": "2026-11-28T04:00:00.000Z", "finished": null | "...",
     "outcome": "running" | "drained" | "idle" | "timeout" | "error",
     "samples": [{"time": "2026-11-28T04:00:00.120Z",   # wall clock, UTC
                  "elapsed": 0.12,                        # seconds since the start (monotonic)
                  "total_lag": 42,                        # sum over groups and partitions; null for idle
                  "lag": {"g1": 42},                      # per group; {} for idle
                  "log_end": 1200}, ...]}                 # sum of the log ends (its slope = write rate)
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import re
import tempfile
import time

from ansible_collections.kafkaops.migration.plugins.module_utils.connection import (
    HAS_CONFLUENT_KAFKA,
    KafkaOpsError,
)
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline, poll

if HAS_CONFLUENT_KAFKA:
    from confluent_kafka import (
        ConsumerGroupState,
        ConsumerGroupTopicPartitions,
        IsolationLevel,
        KafkaError,
        TopicCollection,
        TopicPartition,
    )
    from confluent_kafka.admin import OffsetSpec

UNTIL = ("drained", "idle")
ISOLATION_LEVELS = ("read_committed", "read_uncommitted")

DRAINED = "drained"
BEHIND = "behind"
OPEN_TRANSACTION = "open_transaction"
UNKNOWN = "unknown"

HISTORY_FORMAT = "kafkaops.migration.lag_history"
HISTORY_VERSION = 1

_TOPIC_RE = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


# ---------------------------------------------------------------------------------------------
# The drained rule (pure)
# ---------------------------------------------------------------------------------------------
class ProbeFacts:
    """What probes proved about partitions: offset ranges with nothing deliverable, deliverable offsets.

    Keyed by ``(topic, partition)``. Only facts about offsets below the reach of the isolation level
    are recorded; those never change (retention only removes records), so they hold for the whole wait.
    """

    def __init__(self, max_visible=64):
        self._free = {}     # key -> sorted, merged list of [lo, hi)
        self._visible = {}  # key -> sorted list of deliverable offsets
        self._max_visible = max_visible

    def add_free(self, key, lo, hi):
        if hi <= lo:
            return
        spans = self._free.setdefault(key, [])
        spans.append([lo, hi])
        spans.sort()
        merged = [spans[0]]
        for s_lo, s_hi in spans[1:]:
            if s_lo <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], s_hi)
            else:
                merged.append([s_lo, s_hi])
        self._free[key] = merged

    def add_visible(self, key, offset):
        offs = self._visible.setdefault(key, [])
        if offset not in offs:
            offs.append(offset)
            offs.sort()
            del offs[:-self._max_visible]

    def free_until(self, key, position):
        """The largest ``h`` such that ``[position, h)`` is proven empty (``position`` if nothing is known)."""
        for lo, hi in self._free.get(key, ()):
            if lo <= position < hi:
                return hi
        return position

    def visible_from(self, key, position):
        """The first known deliverable offset ``>= position``, or None."""
        for off in self._visible.get(key, ()):
            if off >= position:
                return off
        return None


def classify(position, log_end, reach, free_until=None, visible=None):
    """The drained rule for one group on one partition; returns ``(status, lag, probe_from)``.

    ``position``: the group's next offset (committed, or log start without a commit).
    ``log_end``: the high watermark. ``reach``: the last offset the group's consumers can reach
    (last stable offset for read_committed, else the high watermark). ``free_until``: ``h`` such that
    ``[position, h)`` is proven to hold nothing deliverable. ``visible``: a known deliverable offset
    ``>= position``. ``probe_from`` is the offset a probe must read from to decide, or None.
    """
    reach = min(reach, log_end)
    advanced = position
    if free_until is not None and free_until > advanced:
        advanced = free_until
    lag = max(log_end - advanced, 0)
    if lag == 0:
        return DRAINED, 0, None
    if visible is not None and position <= visible < log_end and visible >= advanced:
        return BEHIND, lag, None
    if advanced >= reach:
        # Only records of a transaction still open lie ahead: they may yet be committed.
        return OPEN_TRANSACTION, lag, None
    return UNKNOWN, lag, advanced


def satisfied(lag, max_lag):
    return lag is not None and lag <= max_lag


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------
def iso_time(ts):
    dt = datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def write_json_atomic(path, doc):
    """Write ``doc`` to ``path`` through a temporary file in the same folder and a rename."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=folder)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=1, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def validate_options(groups, topics, until, max_lag, interval, stable_for, isolation_level):
    """Check the options beyond the argument spec; returns cleaned ``(groups, topics)``."""
    groups = _unique(groups or [])
    topics = _unique(topics) if topics is not None else None
    if until not in UNTIL:
        raise KafkaOpsError("until must be one of %s, got %r" % (", ".join(UNTIL), until))
    if isolation_level not in ISOLATION_LEVELS:
        raise KafkaOpsError("isolation_level must be one of %s, got %r" % (", ".join(ISOLATION_LEVELS), isolation_level))
    for g in groups:
        if not isinstance(g, str) or not g.strip():
            raise KafkaOpsError("groups: a group id must be a non-empty string, got %r" % (g,))
    for t in topics or []:
        if not isinstance(t, str) or not _TOPIC_RE.match(t) or t in (".", ".."):
            raise KafkaOpsError("topics: %r is not a valid topic name" % (t,))
    if until == "drained" and not groups:
        raise KafkaOpsError("until=drained needs at least one group in groups")
    if until == "idle":
        if not topics:
            raise KafkaOpsError("until=idle needs the topics to watch in topics")
        if groups:
            raise KafkaOpsError("until=idle watches topics only; groups must not be given (use until=drained)")
    if max_lag is None or max_lag < 0:
        raise KafkaOpsError("max_lag must be 0 or more, got %r" % (max_lag,))
    if interval is None or interval <= 0:
        raise KafkaOpsError("interval must be positive, got %r" % (interval,))
    if stable_for is None or stable_for < 0:
        raise KafkaOpsError("stable_for must be 0 or more, got %r" % (stable_for,))
    return groups, topics


def _unique(items):
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


# ---------------------------------------------------------------------------------------------
# Kafka reads (each one batched and bounded)
# ---------------------------------------------------------------------------------------------
def describe_groups(cluster, groups):
    """One DescribeGroups call for all groups: ``{group: {"state": str, "assigned_topics": [...]}}``.

    Raises KafkaOpsError naming the unknown groups (no members and no committed offsets).
    """
    futures = cluster.admin.describe_consumer_groups(groups, request_timeout=cluster.timeout())
    ok, errors = cluster.results(futures, "describe consumer groups")
    unknown, out = [], {}
    for group in groups:
        if group in errors:
            if "GROUP_ID_NOT_FOUND" in errors[group]:
                unknown.append(group)
                continue
            raise KafkaOpsError("%s: describe consumer group %r failed: %s" % (cluster, group, errors[group]))
        desc = ok[group]
        if desc.state == ConsumerGroupState.DEAD:
            unknown.append(group)
            continue
        topics = set()
        for member in desc.members or []:
            assignment = getattr(member, "assignment", None)
            for tp in getattr(assignment, "topic_partitions", None) or []:
                topics.add(tp.topic)
        out[group] = {"state": desc.state.name, "assigned_topics": sorted(topics)}
    if unknown:
        raise KafkaOpsError("%s: unknown consumer group(s): %s (no members and no committed offsets)"
                            % (cluster, ", ".join(unknown)), unknown_groups=unknown)
    return out


def submit_group_offsets(cluster, groups):
    """Ask for the committed offsets of every group: one request per group, all sent at once.

    (OffsetFetch for several groups in one call is not offered by the client.) Returns the futures.
    """
    futures = {}
    for group in groups:
        futures.update(cluster.admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group)], request_timeout=cluster.timeout()))
    return futures


def collect_group_offsets(cluster, futures, groups):
    """Wait for :func:`submit_group_offsets`; ``{group: {(topic, partition): offset}}`` (commits only)."""
    ok, errors = cluster.results(futures, "list consumer group offsets")
    if errors:
        raise KafkaOpsError("%s: list consumer group offsets failed: %s"
                            % (cluster, "; ".join("%s: %s" % kv for kv in sorted(errors.items()))))
    out = {}
    for group in groups:
        out[group] = dict(((tp.topic, tp.partition), tp.offset) for tp in ok[group].topic_partitions or []
                          if tp.error is None and tp.offset is not None and tp.offset >= 0)
    return out


def topic_partitions(cluster, names):
    """``({topic: [partition, ...]}, [missing topic, ...])`` for ``names`` (one DescribeTopics call).

    Only "unknown topic" makes a topic missing; any other error raises, so that a topic never drops
    out of a wait because of a passing error.
    """
    if not names:
        return {}, []
    try:
        futures = cluster.admin.describe_topics(TopicCollection(sorted(names)), request_timeout=cluster.timeout())
    except KafkaOpsError:
        raise
    except Exception as exc:
        raise cluster.fail("describe topics", exc)
    ok, errors = cluster.results(futures, "describe topics")
    missing = sorted(t for t, err in errors.items() if "UNKNOWN_TOPIC_OR_PART" in err)
    others = dict((t, err) for t, err in errors.items() if t not in missing)
    if others:
        raise KafkaOpsError("%s: describe topics failed: %s"
                            % (cluster, "; ".join("%s: %s" % kv for kv in sorted(others.items()))))
    return dict((t, sorted(p.id for p in d.partitions)) for t, d in ok.items()), missing


def list_offsets(cluster, keys, spec, isolation=None):
    """Submit one ListOffsets call for ``keys``; returns the futures dict keyed by ``(topic, partition)``."""
    if not keys:
        return {}
    request = dict((TopicPartition(t, p), spec) for t, p in keys)
    kwargs = {"request_timeout": cluster.timeout()}
    if isolation is not None:
        kwargs["isolation_level"] = isolation
    futures = cluster.admin.list_offsets(request, **kwargs)
    return dict(((tp.topic, tp.partition), fut) for tp, fut in futures.items())


def offsets_result(cluster, futures, what):
    ok, errors = cluster.results(futures, what)
    return dict((k, v.offset) for k, v in ok.items()), errors


def probe(cluster, requests, isolation_level, facts, budget):
    """Read each partition from ``start`` until the first deliverable record or ``reach``.

    ``requests``: ``{(topic, partition): (start, reach)}``. One consumer of the group's isolation
    level reads all partitions at once and never commits (assign only, no group membership).
    Learned facts go into ``facts``. Returns ``{key: error text}`` for partitions it could not read.
    """
    if not requests:
        return {}
    consumer = cluster.consumer(**{
        "isolation.level": isolation_level,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": 100,
        "fetch.max.bytes": 8 * 1024 * 1024,
        "max.partition.fetch.bytes": 256 * 1024,  # the broker still returns a larger first batch whole
        "queued.max.messages.kbytes": 4 * 1024,
    })
    pending = dict(requests)
    errors = {}
    deadline = Deadline(cluster.timeout(budget))
    try:
        consumer.assign([TopicPartition(t, p, start) for (t, p), (start, _reach) in pending.items()])
        while pending and not deadline.expired:
            msgs = consumer.consume(num_messages=1000, timeout=max(min(0.2, deadline.remaining()), 0.001))
            for msg in msgs:
                key = (msg.topic(), msg.partition())
                if key not in pending:
                    continue  # decided already (records after the first one in the same batch)
                start, reach = pending[key]
                err = msg.error()
                if err is None:
                    facts.add_free(key, start, msg.offset())
                    facts.add_visible(key, msg.offset())
                elif err.code() == KafkaError._PARTITION_EOF:
                    facts.add_free(key, start, msg.offset())
                    if msg.offset() < reach:
                        continue  # the end moved back (leader change): wait for more
                else:
                    errors[key] = "%s: %s" % (err.name(), err.str())
                del pending[key]
                consumer.pause([TopicPartition(key[0], key[1])])
        if pending:
            # Not decided within the budget: keep what the consumer passed over without a record.
            for tp in consumer.position([TopicPartition(t, p) for t, p in pending]):
                start = pending[(tp.topic, tp.partition)][0]
                if tp.error is None and tp.offset is not None and tp.offset > start:
                    facts.add_free((tp.topic, tp.partition), start, tp.offset)
    finally:
        consumer.close()
    return errors


# ---------------------------------------------------------------------------------------------
# The wait
# ---------------------------------------------------------------------------------------------
class LagWaiter:
    """Poll a cluster until the groups are drained (or the topics idle); see the module docstring."""

    def __init__(self, cluster, groups=None, topics=None, until="drained", max_lag=0,
                 isolation_level="read_committed", interval=5.0, stable_for=0.0, timeout=600.0,
                 history_file=None, deadline=None, wall_clock=time.time, sleep=time.sleep):
        self.groups, self.topics = validate_options(groups, topics, until, max_lag, interval, stable_for,
                                                    isolation_level)
        self.cluster = cluster
        self.until = until
        self.max_lag = int(max_lag)
        self.isolation_level = isolation_level
        self.interval = float(interval)
        self.stable_for = float(stable_for)
        self.timeout = timeout
        self.history_file = history_file
        self.deadline = deadline or cluster.deadline
        self.wall_clock = wall_clock
        self.sleep = sleep
        self.facts = ProbeFacts()
        self.history = []
        self.polls = 0
        self.group_info = {}
        self._last_commit = {}      # (group, topic, partition) -> (offset, elapsed of last change)
        self._last_end = {}         # (topic, partition) -> (log end, elapsed of last change)
        self._group_progress = {}   # group -> elapsed of the last commit change
        self._started = wall_clock()
        self.last_error = None
        self.last = None

    # -- set-up -----------------------------------------------------------------------------------
    def validate(self):
        """Reachability, groups and topics exist; raises KafkaOpsError before any wait."""
        self.cluster.describe()
        if self.groups:
            self.group_info = describe_groups(self.cluster, self.groups)
        if self.topics:
            missing = topic_partitions(self.cluster, self.topics)[1]
            if missing:
                raise KafkaOpsError("%s: topic(s) do not exist: %s" % (self.cluster, ", ".join(missing)),
                                    missing_topics=missing)
        if self.history_file:
            folder = os.path.dirname(os.path.abspath(self.history_file))
            if not os.path.isdir(folder):
                raise KafkaOpsError("history_file: folder %s does not exist" % folder)
            self._write_history("running")

    # -- one poll ---------------------------------------------------------------------------------
    def sample(self, elapsed):
        """Read the cluster once and classify every partition; returns the snapshot dict."""
        cluster = self.cluster
        group_futures = submit_group_offsets(cluster, self.groups) if self.groups else {}
        commits = collect_group_offsets(cluster, group_futures, self.groups) if group_futures else {}

        # Topics considered per group: the given ones, or those it committed on or is assigned.
        names = {}
        for group in self.groups:
            if self.topics is not None:
                names[group] = list(self.topics)
            else:
                names[group] = sorted(set(t for t, _p in commits[group])
                                      | set(self.group_info.get(group, {}).get("assigned_topics", [])))
        wanted = set(self.topics or [])
        for group_names in names.values():
            wanted.update(group_names)
        partitions, missing = topic_partitions(cluster, wanted)
        if self.topics and set(missing) & set(self.topics):
            raise KafkaOpsError("%s: topic(s) no longer exist: %s"
                                % (cluster, ", ".join(sorted(set(missing) & set(self.topics)))))
        considered, ignored = {}, {}
        for group in self.groups:
            ignored[group] = [t for t in names[group] if t not in partitions]  # deleted since the group committed
            considered[group] = [t for t in names[group] if t in partitions]
        watched = set(self.topics or [])
        for group_topics in considered.values():
            watched.update(group_topics)
        keys = sorted((t, p) for t in watched if t in partitions for p in partitions[t])
        no_commit = sorted(set(k for group in self.groups for k in self._group_keys(considered[group], partitions)
                               if k not in commits[group]))

        read_committed = self.until == "drained" and self.isolation_level == "read_committed"
        end_f = list_offsets(cluster, keys, OffsetSpec.latest(), IsolationLevel.READ_UNCOMMITTED)
        lso_f = list_offsets(cluster, keys, OffsetSpec.latest(), IsolationLevel.READ_COMMITTED) if read_committed else {}
        start_f = list_offsets(cluster, no_commit, OffsetSpec.earliest()) if self.until == "drained" else {}
        ends, end_err = offsets_result(cluster, end_f, "list offsets (log end)")
        lsos, lso_err = offsets_result(cluster, lso_f, "list offsets (last stable offset)") if lso_f else ({}, {})
        starts, start_err = offsets_result(cluster, start_f, "list offsets (log start)") if start_f else ({}, {})
        if not read_committed:
            lsos = ends

        # Topics: log ends and the last time they moved.
        topics = {}
        for t, p in keys:
            entry = topics.setdefault(t, {"log_end": 0, "last_write": None, "partitions": []})
            end = ends.get((t, p))
            part = {"partition": p, "log_end": end}
            if read_committed:
                part["stable_end"] = lsos.get((t, p))
            if (t, p) in end_err:
                part["error"] = end_err[(t, p)]
            prev = self._last_end.get((t, p))
            if end is not None:
                if prev is None:
                    self._last_end[(t, p)] = (end, None)
                elif prev[0] != end:
                    self._last_end[(t, p)] = (end, elapsed)
                entry["log_end"] += end
            changed_at = self._last_end.get((t, p), (None, None))[1]
            part["last_write"] = changed_at
            if changed_at is not None and (entry["last_write"] is None or changed_at > entry["last_write"]):
                entry["last_write"] = changed_at
            entry["partitions"].append(part)

        groups = {}
        if self.until == "drained":
            groups = self._classify_groups(elapsed, considered, ignored, partitions, commits, ends, lsos, starts,
                                           dict(end_err, **lso_err), start_err)
        return {"elapsed": elapsed, "topics": topics, "groups": groups,
                "end_signature": tuple((k, ends.get(k)) for k in keys), "end_errors": bool(end_err)}

    @staticmethod
    def _group_keys(names, partitions):
        return [(t, p) for t in names for p in partitions.get(t, [])]

    def _classify_groups(self, elapsed, considered, ignored, partitions, commits, ends, lsos, starts, off_err, start_err):
        rows = {}
        for group in self.groups:
            for key in self._group_keys(considered[group], partitions):
                rows[(group, key)] = self._row(group, key, commits[group].get(key), ends, lsos, starts, off_err, start_err)
        # Probe what the known facts cannot decide. One consumer reads one position per partition, so a
        # partition where groups stand at different undecided positions takes one round per position
        # (furthest first); every round is bounded and all rounds share one budget.
        budget = Deadline(self.cluster.timeout(max(self.cluster.request_timeout, self.interval)))
        probe_errors = {}
        for _round in range(len(self.groups)):
            needs = {}
            for (group, key), row in rows.items():
                start = row.get("_probe_from")
                if start is not None and key not in probe_errors and (key not in needs or start > needs[key][0]):
                    needs[key] = (start, min(lsos[key], ends[key]))
            if not needs or budget.expired:
                break
            probe_errors.update(probe(self.cluster, needs, self.isolation_level, self.facts,
                                      budget=max(budget.remaining(), 0.001)))
            for (group, key), row in list(rows.items()):
                if row.get("_probe_from") is not None:
                    rows[(group, key)] = self._row(group, key, commits[group].get(key), ends, lsos, starts,
                                                   off_err, start_err)
                    if key in probe_errors:
                        rows[(group, key)]["error"] = probe_errors[key]
        groups = {}
        for group in self.groups:
            parts = []
            for key in self._group_keys(considered[group], partitions):
                row = rows[(group, key)]
                row.pop("_probe_from", None)
                # Progress: when the committed offset last moved.
                ck = (group, key[0], key[1])
                committed = row["committed"]
                prev = self._last_commit.get(ck)
                if prev is None:
                    self._last_commit[ck] = (committed, None)
                elif prev[0] != committed:
                    self._last_commit[ck] = (committed, elapsed)
                    self._group_progress[group] = elapsed
                row["last_progress"] = self._last_commit[ck][1]
                parts.append(row)
            lags = [r["lag"] for r in parts]
            known = [x for x in lags if x is not None]
            groups[group] = {
                "state": self.group_info.get(group, {}).get("state"),
                "lag": sum(known) if len(known) == len(lags) else None,
                # A group left with no partition (deleted, offsets expired) is never drained.
                "drained": bool(lags) and all(satisfied(x, self.max_lag) for x in lags),
                "partitions_behind": sum(1 for x in lags if not satisfied(x, self.max_lag)),
                "last_progress": self._group_progress.get(group),
                "ignored_topics": ignored[group],
                "partitions": parts,
            }
        return groups

    def _row(self, group, key, committed, ends, lsos, starts, off_err, start_err):
        topic, partition = key
        row = {"topic": topic, "partition": partition, "committed": committed,
               "log_end": ends.get(key), "lag": None, "status": UNKNOWN}
        if self.isolation_level == "read_committed":
            row["stable_end"] = lsos.get(key)
        if key in off_err or ends.get(key) is None or lsos.get(key) is None:
            row["error"] = off_err.get(key, "no offsets")
            return row
        position = committed
        if position is None:
            if key in start_err or key not in starts:
                row["error"] = start_err.get(key, "no log start offset")
                return row
            position = starts[key]
            row["log_start"] = position
        status, lag, probe_from = classify(position, ends[key], lsos[key], self.facts.free_until(key, position),
                                           self.facts.visible_from(key, position))
        row["status"], row["lag"] = status, lag
        if probe_from is not None:
            row["_probe_from"] = probe_from
        return row

    # -- the loop ---------------------------------------------------------------------------------
    def condition(self, snap, previous):
        """Whether the awaited condition holds in ``snap`` (``previous`` is the snapshot before)."""
        if self.until == "idle":
            return (previous is not None and not snap["end_errors"]
                    and snap["end_signature"] == previous["end_signature"])
        return bool(snap["groups"]) and all(g["drained"] for g in snap["groups"].values())

    def run(self):
        """Validate, then poll until the condition held for ``stable_for``; returns the result dict.

        On timeout raises KafkaOpsError whose details are the partial result.
        """
        self.validate()
        previous, since, outcome = None, None, None
        # The last poll must still have time to read the cluster: keep a reserve before the deadline.
        remaining = self.deadline.remaining()
        if remaining is None:
            loop_deadline = Deadline(None)
        else:
            loop_deadline = Deadline(max(remaining - min(self.cluster.request_timeout, 0.2 * remaining), 0))
        for _tick in poll(self.interval, loop_deadline, sleep=self.sleep):
            elapsed = self.deadline.elapsed()
            try:
                snap = self.sample(elapsed)
            except KafkaOpsError as exc:
                if self.polls == 0 and not exc.details.get("timed_out"):
                    self._write_history("error")
                    raise
                # Later errors (a broker restarting, the deadline reached mid-poll) do not end the wait.
                self.last_error = exc.msg
                since = None
                if exc.details.get("timed_out") or self.deadline.expired:
                    break
                continue
            self.polls += 1
            if self.polls == 1:
                self._check_groups_have_partitions(snap)
            ok = self.condition(snap, previous)
            if self.until == "idle" and previous is not None and snap["end_signature"] != previous["end_signature"]:
                since = None
            if self.until == "idle" and since is None:
                since = elapsed  # the current log ends were first seen now
            self._record(snap)
            previous = snap
            if ok:
                if self.until == "drained" and since is None:
                    since = elapsed
                if elapsed - since >= self.stable_for:
                    outcome = self.until
                    break
            elif self.until == "drained":
                since = None
            self._write_history("running")
        result = self.result(outcome or "timeout")
        self._write_history(outcome or "timeout")
        if outcome is None:
            raise KafkaOpsError(self._timeout_message(result), **result)
        return result

    def _check_groups_have_partitions(self, snap):
        empty = sorted(g for g, v in snap["groups"].items() if not v["partitions"])
        if empty:
            self._write_history("error")
            raise KafkaOpsError("%s: nothing to wait for: group(s) %s have no committed offsets on existing topics "
                                "and no assigned partitions; name the topics they consume in topics"
                                % (self.cluster, ", ".join(empty)), groups_without_partitions=empty)

    def _record(self, snap):
        if self.until == "drained":
            lags = dict((g, v["lag"]) for g, v in snap["groups"].items())
            total = sum(v for v in lags.values() if v is not None)
        else:
            lags, total = {}, None
        ts = self.wall_clock()
        self.history.append({
            "time": iso_time(ts),
            "elapsed": round(snap["elapsed"], 3),
            "total_lag": total,
            "lag": lags,
            "log_end": sum(t["log_end"] for t in snap["topics"].values()),
        })
        self.last = snap

    def result(self, outcome):
        snap = self.last or {"groups": {}, "topics": {}}
        groups, topics = snap["groups"], snap["topics"]
        total = sum(g["lag"] for g in groups.values() if g["lag"] is not None) if self.until == "drained" else None
        progress = [g["last_progress"] for g in groups.values() if g["last_progress"] is not None]
        writes = [t["last_write"] for t in topics.values() if t["last_write"] is not None]
        return {
            "until": self.until,
            "outcome": outcome,
            "drained": outcome == "drained",
            "idle": outcome == "idle",
            "duration": round(self.deadline.elapsed(), 3),
            "polls": self.polls,
            "max_lag": self.max_lag,
            "isolation_level": self.isolation_level,
            "total_lag": total,
            "last_progress": max(progress) if progress else None,
            "last_write": max(writes) if writes else None,
            "last_error": self.last_error,
            "groups": groups,
            "topics": topics,
            "history": list(self.history),
            "history_file": self.history_file,
        }

    def _timeout_message(self, result):
        took = "%.1fs" % result["duration"]
        if self.until == "idle":
            busy = sorted(t for t, v in result["topics"].items() if v["last_write"] is not None)
            text = "timed out after %s waiting for topics to go idle" % took
            if busy:
                text += "; still written: %s (last write at %.1fs)" % (", ".join(busy), result["last_write"])
        else:
            behind = ["%s (lag %s on %d partition(s))" % (g, v["lag"], v["partitions_behind"])
                      for g, v in sorted(result["groups"].items()) if not v["drained"]]
            text = "timed out after %s waiting for groups to drain (max_lag %d)" % (took, self.max_lag)
            if behind:
                text += "; not drained: %s" % ", ".join(behind)
            if result["last_progress"] is not None:
                text += "; last progress at %.1fs" % result["last_progress"]
            else:
                text += "; no progress seen"
        if self.last_error:
            text += "; last error: %s" % self.last_error
        return "%s: %s" % (self.cluster, text)

    def _write_history(self, outcome):
        if not self.history_file:
            return
        doc = {
            "format": HISTORY_FORMAT,
            "version": HISTORY_VERSION,
            "cluster": self.cluster.base_config["bootstrap.servers"],
            "until": self.until,
            "groups": self.groups,
            "topics": self.topics,
            "isolation_level": self.isolation_level,
            "max_lag": self.max_lag,
            "interval": self.interval,
            "stable_for": self.stable_for,
            "timeout": self.timeout,
            "started": iso_time(self._started),
            "finished": None if outcome == "running" else iso_time(self.wall_clock()),
            "outcome": outcome,
            "samples": self.history,
        }
        try:
            write_json_atomic(self.history_file, doc)
        except (IOError, OSError) as exc:
            raise KafkaOpsError("history_file: cannot write %s: %s" % (self.history_file, exc))
