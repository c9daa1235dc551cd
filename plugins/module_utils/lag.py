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

``until: members``
    Every group is ``STABLE`` with at least ``min_members`` members: a consumer that was started has
    joined its group and been given partitions (the proof of a new consumer's start). A group the
    cluster does not know yet is waited for, not an error.

``until: written``
    Records with a timestamp at or after ``since`` (epoch ms) reached the topics: per partition, the
    first offset at or after that timestamp (ListOffsets by timestamp) lies below the log end. At least
    ``min_records`` such records in all (the proof that a producer started after ``since`` writes).

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

from ansible_collections.kafkaops.migration.plugins.module_utils.admin import (
    BEHIND,
    DRAINED,
    ISOLATION_LEVELS,
    OPEN_TRANSACTION,
    UNKNOWN,
    ProbeFacts,
    Selection,
    lag_status,
    reachable_end,
    satisfied,
    view_of,
)
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import (
    HAS_CONFLUENT_KAFKA,
    KafkaOpsError,
)
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline, poll

if HAS_CONFLUENT_KAFKA:
    from confluent_kafka import KafkaError, TopicPartition

UNTIL = ("drained", "idle", "members", "written")
STATUSES = (DRAINED, BEHIND, OPEN_TRANSACTION, UNKNOWN)

HISTORY_FORMAT = "kafkaops.migration.lag_history"
HISTORY_VERSION = 1

_TOPIC_RE = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


# ---------------------------------------------------------------------------------------------
# The drained rule (pure): the collection's one lag definition lives in admin.py
# ---------------------------------------------------------------------------------------------
classify = lag_status  # the name this module has always used


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


def validate_options(groups, topics, until, max_lag, interval, stable_for, isolation_level, include=None, exclude=None,
                     since=None, min_members=1, min_records=1):
    """Check the options beyond the argument spec; returns cleaned ``(groups, topics)``.

    ``include`` / ``exclude``: the collection's selection vocabulary (:class:`admin.Selection`), checked here.
    """
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
    Selection(include, exclude)  # a bad pattern fails here, naming its option
    if include is not None and not include:
        raise KafkaOpsError("include is empty, so no topic would be considered: omit it, or name the topics")
    if until in ("idle", "written"):
        if not topics and not include:
            raise KafkaOpsError("until=%s needs the topics to watch in topics (exact names) or include (patterns)" % until)
        if groups:
            raise KafkaOpsError("until=%s watches topics only; groups must not be given (use until=drained or members)"
                                % until)
    if until == "members":
        if not groups:
            raise KafkaOpsError("until=members needs at least one group in groups")
        if topics or include:
            raise KafkaOpsError("until=members watches groups only; topics and include must not be given")
        if min_members is None or int(min_members) < 1:
            raise KafkaOpsError("min_members must be 1 or more, got %r" % (min_members,))
    if until == "written":
        if since is None or int(since) < 0:
            raise KafkaOpsError("until=written needs since, the time (epoch milliseconds) after which records count")
        if min_records is None or int(min_records) < 1:
            raise KafkaOpsError("min_records must be 1 or more, got %r" % (min_records,))
    elif since is not None:
        raise KafkaOpsError("since is only used with until=written")
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
    view = view_of(cluster)
    described = view.groups(groups)
    unknown = [g for g in groups if described[g]["state"] == "DEAD"]
    if unknown:
        raise KafkaOpsError("%s: unknown consumer group(s): %s (no members and no committed offsets)"
                            % (view, ", ".join(unknown)), unknown_groups=unknown)
    return dict((g, {"state": described[g]["state"], "assigned_topics": described[g]["assigned_topics"]}) for g in groups)


def topic_partitions(cluster, names):
    """``({topic: [partition, ...]}, [missing topic, ...])`` for ``names`` (one DescribeTopics call).

    Only "unknown topic" makes a topic missing; any other error raises, so that a topic never drops
    out of a wait because of a passing error.
    """
    counts, missing = view_of(cluster).partitions(names)
    return dict((t, list(range(n))) for t, n in counts.items()), missing


def read_bounds(view, end_keys, stable_keys, start_keys):
    """Log ends, last stable offsets and log starts of the given partitions: one ListOffsets call per
    kind, all in flight at once. Returns ``(ends, stables, starts, end_errors, stable_errors, start_errors)``,
    each keyed by ``(topic, partition)``; per-partition errors are returned, not raised."""
    wanted = {"end": end_keys, "stable": stable_keys, "start": start_keys}
    offsets, errors = view.offsets_of_kinds(wanted, [k for k in ("end", "stable", "start") if wanted[k]])
    errs = dict((kind, {}) for kind in ("end", "stable", "start"))
    for (kind, key), text in errors.items():
        errs[kind][key] = text
    return (offsets.get("end", {}), offsets.get("stable", {}), offsets.get("start", {}),
            errs["end"], errs["stable"], errs["start"])


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


def probe_rounds(cluster, rows, redo, reach_of, isolation_level, facts, budget, rounds):
    """Probe what the known facts cannot decide, then classify again; returns ``{key: probe error}``.

    ``rows``: ``{(owner, (topic, partition)): row}`` where an undecided row has ``_probe_from``;
    ``redo(owner, key)`` classifies a row again with the new facts; ``reach_of(key)`` is the reach of
    the isolation level. One consumer reads one position per partition, so a partition where owners
    (groups) stand at different undecided positions takes one round per position (furthest first);
    every round is bounded and all rounds share one ``budget`` (a Deadline).
    """
    probe_errors = {}
    for _round in range(max(rounds, 1)):
        needs = {}
        for (owner, key), row in rows.items():
            start = row.get("_probe_from")
            if start is not None and key not in probe_errors and (key not in needs or start > needs[key][0]):
                needs[key] = (start, reach_of(key))
        if not needs or budget.expired:
            break
        probe_errors.update(probe(cluster, needs, isolation_level, facts, budget=max(budget.remaining(), 0.001)))
        for (owner, key), row in list(rows.items()):
            if row.get("_probe_from") is not None:
                rows[(owner, key)] = redo(owner, key)
                if key in probe_errors:
                    rows[(owner, key)]["error"] = probe_errors[key]
    return probe_errors


def measure(cluster, positions, isolation_level="read_committed", facts=None, budget=None):
    """The lag of consumers (or a copier) at given positions, by the one lag definition, probed once.

    ``positions``: ``{owner: {(topic, partition): next offset, or None for "from the log start"}}``.
    Reads the log ends, the last stable offsets (read_committed) and the log starts where needed (one
    ListOffsets call per kind), then probes the undecided partitions within ``budget`` seconds (the
    cluster's request timeout by default). Returns ``{owner: {(topic, partition): row}}``, each row with
    ``position``, ``log_end``, ``stable_end`` (read_committed), ``lag`` and ``status``
    (``drained``, ``behind``, ``open_transaction``, ``unknown``; ``lag`` is then an upper bound) and
    ``error`` when a partition could not be read.
    """
    view = view_of(cluster)
    cluster = view.cluster
    facts = facts if facts is not None else ProbeFacts()
    read_committed = isolation_level == "read_committed"
    keys = sorted(set(k for owned in positions.values() for k in owned))
    from_start = sorted(set(k for owned in positions.values() for k, pos in owned.items() if pos is None))
    ends, lsos, starts, end_err, lso_err, start_err = read_bounds(view, keys, keys if read_committed else [], from_start)
    if not read_committed:
        lsos = ends
    off_err = dict(end_err, **lso_err)

    def row_of(owner, key):
        pos = positions[owner][key]
        row = {"topic": key[0], "partition": key[1], "position": pos, "log_end": ends.get(key),
               "lag": None, "status": UNKNOWN}
        if read_committed:
            row["stable_end"] = lsos.get(key)
        if key in off_err or ends.get(key) is None or lsos.get(key) is None:
            row["error"] = off_err.get(key, "no offsets")
            return row
        if pos is None:
            if key not in starts:
                row["error"] = start_err.get(key, "no log start offset")
                return row
            pos = row["position"] = starts[key]
        status, lag, probe_from = lag_status(pos, ends[key], reachable_end(ends[key], lsos[key], isolation_level),
                                             facts.free_until(key, pos), facts.visible_from(key, pos))
        row["status"], row["lag"] = status, lag
        if probe_from is not None:
            row["_probe_from"] = probe_from
        return row

    rows = dict(((owner, key), row_of(owner, key)) for owner, owned in positions.items() for key in owned)
    if budget is None:
        budget = cluster.request_timeout
    probe_rounds(cluster, rows, row_of, lambda key: reachable_end(ends[key], lsos[key], isolation_level),
                 isolation_level, facts, Deadline(cluster.timeout(budget)), len(positions))
    out = dict((owner, {}) for owner in positions)
    for (owner, key), row in rows.items():
        row.pop("_probe_from", None)
        out[owner][key] = row
    return out


# ---------------------------------------------------------------------------------------------
# The wait
# ---------------------------------------------------------------------------------------------
class LagWaiter:
    """Poll a cluster until the groups are drained (or the topics idle); see the module docstring."""

    def __init__(self, cluster, groups=None, topics=None, until="drained", max_lag=0,
                 isolation_level="read_committed", interval=5.0, stable_for=0.0, timeout=600.0,
                 history_file=None, deadline=None, wall_clock=time.time, sleep=time.sleep, include=None, exclude=None,
                 since=None, min_members=1, min_records=1):
        self.groups, self.topics = validate_options(groups, topics, until, max_lag, interval, stable_for,
                                                    isolation_level, include, exclude, since, min_members, min_records)
        self.since = None if since is None else int(since)
        self.min_members = int(min_members)
        self.min_records = int(min_records)
        self.include = include
        self.exclude = list(exclude or [])
        self.selection = Selection(include, exclude)
        self.cluster = cluster
        self.view = view_of(cluster)
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
        self.view.describe()
        if self.groups and self.until != "members":   # a group that has no member yet is what members waits for
            self.group_info = describe_groups(self.view, self.groups)
        if self.include is not None:
            # include/exclude are resolved once, into exact names, next to the given ones
            chosen = self.view.select(self.selection)
            if not chosen:
                raise KafkaOpsError("%s: include %s selects no topic (patterns match whole topic names; internal "
                                    "topics are never selected)" % (self.cluster, ", ".join(self.include)),
                                    missing_topics=[])
            self.topics = _unique((self.topics or []) + chosen)
        if self.topics:
            missing = topic_partitions(self.view, self.topics)[1]
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
        if self.until == "members":
            return self._sample_members(elapsed)
        if self.until == "written":
            return self._sample_written(elapsed)
        cluster = self.cluster
        commits = self.view.committed(self.groups) if self.groups else {}

        # Topics considered per group: the given ones, or those it committed on or is assigned.
        names = {}
        for group in self.groups:
            if self.topics is not None:
                names[group] = list(self.topics)
            else:
                found = set(t for t, _p in commits[group]) | set(self.group_info.get(group, {}).get("assigned_topics", []))
                names[group] = sorted(t for t in found if not self._excluded(t))
        wanted = set(self.topics or [])
        for group_names in names.values():
            wanted.update(group_names)
        partitions, missing = topic_partitions(self.view, wanted)
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
        ends, lsos, starts, end_err, lso_err, start_err = read_bounds(
            self.view, keys, keys if read_committed else [], no_commit if self.until == "drained" else [])
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

    def _sample_members(self, elapsed):
        """One DescribeGroups call: each group's state, member count and clients."""
        described = self.view.groups(self.groups)
        groups = {}
        for g in self.groups:
            d = described[g]
            groups[g] = {"state": d["state"], "members": d["members"], "clients": d["clients"],
                         "assigned_topics": d["assigned_topics"],
                         "joined": d["state"] == "STABLE" and d["members"] >= self.min_members}
        return {"elapsed": elapsed, "topics": {}, "groups": groups, "end_signature": (), "end_errors": False}

    def _sample_written(self, elapsed):
        """One DescribeTopics and one ListOffsets call per kind: records at or after ``since`` per partition."""
        partitions, missing = topic_partitions(self.view, self.topics)
        if missing:
            raise KafkaOpsError("%s: topic(s) no longer exist: %s" % (self.cluster, ", ".join(sorted(missing))))
        keys = sorted((t, p) for t in partitions for p in partitions[t])
        kind = ("at", self.since)
        offsets, errors = self.view.offsets_of_kinds(keys, ["end", kind])
        if errors:
            self.view._raise("list offsets", dict((key, text) for (_k, key), text in errors.items()))
        topics = {}
        for t, p in keys:
            end, first = offsets["end"][(t, p)], offsets[kind][(t, p)]
            count = 0 if first is None or first < 0 else max(end - first, 0)
            entry = topics.setdefault(t, {"log_end": 0, "written": 0, "last_write": None, "partitions": []})
            entry["log_end"] += end
            entry["written"] += count
            entry["partitions"].append({"partition": p, "log_end": end, "first_since": first if first is not None and first >= 0
                                        else None, "written": count})
        return {"elapsed": elapsed, "topics": topics, "groups": {}, "end_signature": (), "end_errors": False,
                "written": sum(v["written"] for v in topics.values())}

    def _excluded(self, topic):
        return any(re.fullmatch(p, topic) for p in self.exclude)

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

        def redo(group, key):
            return self._row(group, key, commits[group].get(key), ends, lsos, starts, off_err, start_err)

        probe_rounds(self.cluster, rows, redo, lambda key: min(lsos[key], ends[key]), self.isolation_level, self.facts,
                     budget, len(self.groups))
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
        if self.until == "members":
            return all(g["joined"] for g in snap["groups"].values())
        if self.until == "written":
            return snap["written"] >= self.min_records
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
            if self.polls == 1 and self.until == "drained":
                self._check_groups_have_partitions(snap)
            ok = self.condition(snap, previous)
            if self.until == "idle" and previous is not None and snap["end_signature"] != previous["end_signature"]:
                since = None
            if self.until == "idle" and since is None:
                since = elapsed  # the current log ends were first seen now
            self._record(snap)
            previous = snap
            if ok:
                if self.until != "idle" and since is None:
                    since = elapsed
                if elapsed - since >= self.stable_for:
                    outcome = self.until
                    break
            elif self.until in ("drained", "members", "written"):
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
        if self.until == "members":
            lags = dict((g, v["members"]) for g, v in snap["groups"].items())
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
        progress = [g["last_progress"] for g in groups.values() if g.get("last_progress") is not None]
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
            "members": outcome == "members",
            "written": snap.get("written") if self.until == "written" else None,
            "since": self.since,
        }

    def _timeout_message(self, result):
        took = "%.1fs" % result["duration"]
        if self.until == "members":
            waiting = ["%s (%s, %d member(s))" % (g, v["state"], v["members"])
                       for g, v in sorted(result["groups"].items()) if not v["joined"]]
            text = "timed out after %s waiting for groups to have %d member(s) or more and be STABLE; not yet: %s" % (
                took, self.min_members, ", ".join(waiting) or "unknown (no poll answered)")
        elif self.until == "written":
            text = ("timed out after %s waiting for records written at or after %s (epoch ms %d) to topics %s: %s found, "
                    "%d wanted (is the producer running, writing, and pointed at this cluster?)"
                    % (took, iso_time(self.since / 1000.0), self.since, ", ".join(self.topics or []),
                       result["written"] if result["written"] is not None else "none", self.min_records))
        elif self.until == "idle":
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
