# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one admin layer: what every step reads from a cluster, and the rules every step shares.

Plain Python (no AnsibleModule here). Every module reads clusters through this layer, so that a
topic is internal, selected, or lagging by one definition only:

* :func:`is_internal` / :func:`internal_kind`: the one internal-topic rule (Kafka's ``__`` topics,
  MirrorMaker 2, Kafka Connect, Schema Registry, Confluent Platform). Internal topics are never
  selected, whatever the patterns say.
* :class:`Selection`: the one topic-selection vocabulary, ``include`` and ``exclude``: lists of
  Python regular expressions matched against the *whole* topic name (``re.fullmatch``).
* :func:`target_topic_name`: the one renaming rule from a source topic to its target topic
  (``prefix`` + name + ``suffix``), used by topic sync, the copy and group sync.
* :func:`ensure_distinct`: two clusters are compared by cluster id (DescribeCluster), never by how
  their addresses are spelled.
* The one lag definition (:func:`lag_status`, :func:`reachable_end`, :class:`ProbeFacts`): lag is
  measured to the last offset a consumer can reach, see :func:`lag_status`.
* :class:`ClusterView`: every read of a cluster (topics, partitions, offsets of each kind, committed
  offsets, group states, configs, identity) through one object, with one retry policy
  (:data:`RETRIABLE_ERRORS`, retried with :func:`wait.poll` within the cluster's bounds) and one error
  type (:class:`connection.KafkaOpsError` naming the cluster and the call).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

from ansible_collections.kafkaops.migration.plugins.module_utils.connection import KafkaOpsError
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline, poll

try:
    from confluent_kafka import ConsumerGroupTopicPartitions, IsolationLevel, TopicCollection, TopicPartition
    from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, OffsetSpec, ResourceType
except ImportError:  # connection.Cluster reports the missing library
    pass

# ---------------------------------------------------------------------------------------------
# The internal-topic rule
# ---------------------------------------------------------------------------------------------
# (pattern on the whole name, what owns such a topic). Kafka's "__" topics (__consumer_offsets,
# __transaction_state, __cluster_metadata, probes), MirrorMaker 2's heartbeats / checkpoints /
# offset-syncs / Connect internals, Kafka Connect's storage topics (default and "connect-cluster-"
# names), the Schema Registry's _schemas, Confluent Platform's _confluent* topics, and this
# collection's own offset map (its default name; a custom one is passed as ``extra_excluded``).
INTERNAL_TOPIC_RULES = (
    (r"__consumer_offsets", "consumer offsets"),
    (r"__transaction_state", "transaction state"),
    (r"__share_group_state", "share group state"),
    (r"__cluster_metadata", "KRaft metadata"),
    (r"__.*", "Kafka internal (name starts with __)"),
    (r"_confluent.*", "Confluent Platform"),
    (r"_schemas", "Schema Registry"),
    (r"mm2-(offset-syncs|configs|offsets|status)\..*\.internal", "MirrorMaker 2"),
    (r".*\.checkpoints\.internal", "MirrorMaker 2"),
    (r"(.*\.)?heartbeats", "MirrorMaker 2"),
    (r"connect-(cluster-)?(configs|offsets|status)", "Kafka Connect"),
    (r"kafkaops(\.mirror\.|_mirror_)offsets", "kafkaops.migration offset map (the copy's progress)"),
)
INTERNAL_TOPIC_PATTERNS = [p for p, _kind in INTERNAL_TOPIC_RULES]
_INTERNAL_RULES = [(re.compile(p), kind) for p, kind in INTERNAL_TOPIC_RULES]


def internal_kind(name, flagged=False):
    """What owns topic ``name`` when it is internal (e.g. ``"MirrorMaker 2"``), else None.

    ``flagged`` is the broker's own ``is_internal`` flag from the metadata.
    """
    for pattern, kind in _INTERNAL_RULES:
        if pattern.fullmatch(name):
            return kind
    return "Kafka internal" if flagged else None


def is_internal(name, flagged=False):
    """True for topics that belong to Kafka, MirrorMaker 2, Connect or the Schema Registry."""
    return internal_kind(name, flagged) is not None


# ---------------------------------------------------------------------------------------------
# The topic-selection vocabulary
# ---------------------------------------------------------------------------------------------
SELECTION_OPTION_SPEC = dict(
    include=dict(type="list", elements="str"),
    exclude=dict(type="list", elements="str", default=[]),
)


def compile_patterns(patterns, option):
    """Compiled regular expressions; a bad one raises KafkaOpsError naming the option."""
    out = []
    for pattern in patterns or []:
        try:
            out.append(re.compile(pattern))
        except (re.error, TypeError) as exc:
            raise KafkaOpsError("%s: %r is not a valid regular expression: %s" % (option, pattern, exc))
    return out


class Selection:
    """``include`` / ``exclude`` regular expressions on whole topic names; internal topics never.

    ``include`` None (not given) selects every non-internal topic; an empty list selects none.
    ``extra_excluded`` are names never selected either (e.g. the copy's own offset-map topic).
    """

    def __init__(self, include=None, exclude=None, extra_excluded=()):
        self.include_given = include is not None
        self.include = compile_patterns([".*"] if include is None else include, "include")
        self.exclude = compile_patterns(exclude, "exclude")
        self.extra_excluded = frozenset(extra_excluded or ())

    def why_not(self, name):
        """``(matched_include, reason)``: reason is None when ``name`` is selected."""
        if not any(p.fullmatch(name) for p in self.include):
            return False, "matches no include pattern"
        kind = internal_kind(name)
        if kind is not None:
            return True, "internal topic (%s)" % kind
        if name in self.extra_excluded:
            return True, "used by the collection itself"
        for p in self.exclude:
            if p.fullmatch(name):
                return True, "excluded by pattern %r" % p.pattern
        return True, None

    def selected(self, name):
        return self.why_not(name)[1] is None

    def select(self, names):
        """The selected names, sorted."""
        return sorted(n for n in set(names) if self.selected(n))

    def unmatched_includes(self, names):
        """Include patterns (given by the user) that match none of ``names``: a likely typo."""
        if not self.include_given:
            return []
        return [p.pattern for p in self.include if not any(p.fullmatch(n) for n in names)]


# ---------------------------------------------------------------------------------------------
# Topic names on the target
# ---------------------------------------------------------------------------------------------
def target_topic_name(name, prefix="", suffix=""):
    """The target topic of source topic ``name``: ``prefix + name + suffix``."""
    return "%s%s%s" % (prefix or "", name, suffix or "")


# ---------------------------------------------------------------------------------------------
# Cluster identity
# ---------------------------------------------------------------------------------------------
def ensure_distinct(source, target, timeout=None):
    """Raise KafkaOpsError when ``source`` and ``target`` are one cluster (same cluster id).

    Both are :class:`connection.Cluster` (or :class:`ClusterView`, whose description is then read once
    and kept); each is described once (the reachability check every module makes first). Returns
    ``(source description, target description)``.
    """
    src = source.describe() if isinstance(source, ClusterView) else source.describe(timeout)
    tgt = target.describe() if isinstance(target, ClusterView) else target.describe(timeout)
    if src["cluster_id"] and src["cluster_id"] == tgt["cluster_id"]:
        raise KafkaOpsError(
            "nothing was read or written: the source and the target are the same cluster (cluster id %s): "
            "%s and %s are two addresses of one cluster; give the target cluster's address"
            % (src["cluster_id"], source, target), cluster_id=src["cluster_id"])
    return src, tgt


# ---------------------------------------------------------------------------------------------
# The lag definition (pure)
# ---------------------------------------------------------------------------------------------
# Statuses of one group (or copier) on one partition.
DRAINED = "drained"
BEHIND = "behind"
OPEN_TRANSACTION = "open_transaction"
UNKNOWN = "unknown"
ISOLATION_LEVELS = ("read_committed", "read_uncommitted")


def reachable_end(log_end, stable_end, isolation_level="read_committed"):
    """The last offset a consumer of ``isolation_level`` can reach on a partition.

    ``read_committed``: the last stable offset (below it every transaction is decided; what lies
    between it and the log end belongs to a transaction still open). ``read_uncommitted``: the high
    watermark. Never past the log end.
    """
    if isolation_level == "read_committed" and stable_end is not None:
        return min(stable_end, log_end)
    return log_end


class ProbeFacts:
    """What probes proved about partitions: offset ranges with nothing deliverable, deliverable offsets.

    Keyed by ``(topic, partition)``. Only facts about offsets below the reach of the isolation level
    are recorded; those never change (retention only removes records), so they hold for a whole wait.
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


def lag_status(position, log_end, reach, free_until=None, visible=None):
    """The one lag definition, for one consumer position on one partition: ``(status, lag, probe_from)``.

    The naive lag ``log end - position`` never reaches 0 on transactional topics: the log end counts
    the commit/abort markers and the records of aborted transactions, which no consumer receives. So:

    ``position``: the next offset the consumer reads (its committed offset, or the log start).
    ``log_end``: the high watermark. ``reach``: :func:`reachable_end` for the consumer's isolation
    level. ``free_until``: ``h`` such that ``[position, h)`` is proven to hold nothing deliverable
    (markers, aborted records, compacted gaps), from a probe. ``visible``: a known deliverable offset
    ``>= position``.

    ``lag = log end - position'`` where ``position'`` is the position advanced over the proven-empty
    offsets: 0 (``drained``) when nothing after the position can ever be delivered, otherwise an upper
    bound of the records left (exact on topics without transactions or compaction). ``behind``: a
    deliverable record is known ahead; ``open_transaction``: only records of a transaction still open
    lie ahead (they may yet be committed); ``unknown``: a probe must read from ``probe_from`` to decide.
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
    """A lag within ``max_lag`` (an unknown lag never is)."""
    return lag is not None and lag <= max_lag


# ---------------------------------------------------------------------------------------------
# Reading a cluster: ClusterView
# ---------------------------------------------------------------------------------------------
# Per-item errors worth asking again for: the coordinator or a leader moving or loading, a topic so
# new that the broker asked does not know it yet. Local time-outs (librdkafka's _TIMED_OUT) are never
# retried: after a timed-out group request librdkafka may abort the process when the late answer
# arrives (librdkafka issue 4605), so the call fails at once with a clear message instead.
RETRIABLE_ERRORS = (
    "NOT_COORDINATOR", "COORDINATOR_LOAD_IN_PROGRESS", "COORDINATOR_NOT_AVAILABLE",
    "LEADER_NOT_AVAILABLE", "NOT_LEADER_OR_FOLLOWER", "NOT_LEADER_FOR_PARTITION", "REPLICA_NOT_AVAILABLE",
    "OFFSET_NOT_AVAILABLE", "NOT_CONTROLLER", "REBALANCE_IN_PROGRESS", "KAFKA_STORAGE_ERROR",
)
# "Unknown topic" is retried only this long: right after a topic was created some brokers may not
# know it yet; after that the answer stands (the topic does not exist). The broker says
# UNKNOWN_TOPIC_OR_PART; librdkafka's ListOffsets says _NOENT ("Failed to query partition leaders")
# when its metadata has no leader for the partition, and _UNKNOWN_TOPIC / _UNKNOWN_PARTITION locally.
UNKNOWN_TOPIC = "UNKNOWN_TOPIC_OR_PART"
UNKNOWN_TOPIC_ERRORS = (UNKNOWN_TOPIC, "_UNKNOWN_TOPIC", "_UNKNOWN_PARTITION", "_NOENT")
UNKNOWN_TOPIC_GRACE = 2.0
RETRY_INTERVAL = 0.1
RETRY_MAX_INTERVAL = 1.0
# describe_configs: topics per request and admin connections used at once (a broker serves one
# connection's requests in order; in ZooKeeper mode it reads each topic's config from ZooKeeper).
CONFIG_BATCH = 250
CONFIG_CONNECTIONS = 3
# Offset kinds of ClusterView.offsets: (spec factory, isolation level name).
OFFSET_KINDS = ("start", "end", "stable")


def error_name(text):
    """The Kafka error name at the head of an error text (``"NOT_COORDINATOR: ..."``)."""
    return (text or "").split(":", 1)[0].strip()


def is_unknown_topic(text):
    """Whether an error text says the topic (or partition) does not exist, as far as the cluster knows."""
    return error_name(text) in UNKNOWN_TOPIC_ERRORS


def retriable(text, unknown_topic=False):
    """Whether an error text is worth retrying (``unknown_topic``: still within the grace period)."""
    name = error_name(text)
    if name in RETRIABLE_ERRORS:
        return True
    return unknown_topic and name in UNKNOWN_TOPIC_ERRORS


def _state_name(value):
    if value is None:
        return None
    return getattr(value, "name", str(value))


def _offset_spec(kind):
    """``(OffsetSpec, IsolationLevel)`` of an offset kind: start, end, stable or ("at", ms)."""
    if kind == "start":
        return OffsetSpec.earliest(), IsolationLevel.READ_UNCOMMITTED
    if kind == "end":
        return OffsetSpec.latest(), IsolationLevel.READ_UNCOMMITTED
    if kind == "stable":
        return OffsetSpec.latest(), IsolationLevel.READ_COMMITTED
    if isinstance(kind, tuple) and len(kind) == 2 and kind[0] == "at":
        return OffsetSpec.for_timestamp(int(kind[1])), IsolationLevel.READ_UNCOMMITTED
    raise KafkaOpsError("offset kind must be start, end, stable or ('at', timestamp ms), got %r" % (kind,))


class ClusterView:
    """Every read of one cluster, batched, bounded and retried by one policy.

    Built on a :class:`connection.Cluster` (one per cluster per task). Each method makes one call per
    kind of request for all items (per group where the client allows one group per request, all of
    them in flight at once), retries items that failed with a :data:`RETRIABLE_ERRORS` error with
    :func:`wait.poll` within the cluster's ``request_timeout`` (and never past the module's deadline),
    and raises :class:`KafkaOpsError` naming the cluster and the call.
    """

    def __init__(self, cluster, sleep=time.sleep):
        self.cluster = cluster
        self.sleep = sleep
        self._description = None

    def __str__(self):
        return str(self.cluster)

    # -- the retry policy --------------------------------------------------------------------------
    def _collect(self, what, submit, keys, wait=None):
        """Run ``submit(pending keys) -> {key: future}`` and retry the retriable failures: ``(ok, errors)``.

        ``wait``: how long the answers of one submission may take (default: the request timeout; more
        when several requests queue on one connection, as the config reads do).
        """
        cluster = self.cluster
        ok, errors = {}, {}
        pending = list(keys)
        if not pending:
            return ok, errors
        budget = Deadline(cluster.timeout())
        for elapsed in poll(RETRY_INTERVAL, budget, sleep=self.sleep, backoff=2.0, max_interval=RETRY_MAX_INTERVAL):
            try:
                futures = submit(pending)
            except KafkaOpsError:
                raise
            except Exception as exc:  # KafkaException raised at submission (bad argument, client gone)
                raise cluster.fail(what, exc)
            got, failed = cluster.results(futures, what, timeout=wait)
            ok.update(got)
            for key in got:
                errors.pop(key, None)
            errors.update(failed)
            grace = elapsed < UNKNOWN_TOPIC_GRACE
            pending = [k for k, text in failed.items() if retriable(text, grace)]
            if not pending or budget.expired:
                break
        return ok, errors

    def _raise(self, what, errors, limit=5):
        items = sorted(errors.items(), key=lambda kv: str(kv[0]))
        raise KafkaOpsError("%s: %s failed for %d item(s): %s" % (
            self.cluster, what, len(items), "; ".join("%s: %s" % (_key_text(k), v) for k, v in items[:limit])),
            failed_items=[_key_text(k) for k, _v in items])

    # -- identity ------------------------------------------------------------------------------------
    def describe(self):
        """Cluster id, controller and brokers (DescribeCluster, read once per view)."""
        if self._description is None:
            self._description = self.cluster.describe()
        return self._description

    def identity(self):
        """The cluster id: what tells two clusters apart, whatever their addresses look like."""
        return self.describe()["cluster_id"]

    # -- topics ------------------------------------------------------------------------------------------
    def topics(self):
        """``{topic: partition count}`` of every topic the cluster knows, internal ones included (one Metadata call)."""
        return dict((name, t["partitions"]) for name, t in topic_metadata(self).items())

    def select(self, selection, names=None):
        """The topics ``selection`` (a :class:`Selection`) picks, sorted; internal topics never.

        ``names``: the cluster's topics when already read (else one Metadata call).
        """
        if names is None:
            names = self.topics()
        return selection.select(names)

    def describe_topics(self, topics):
        """``({topic: {"partitions": [{"id", "replicas", "isr", "leader"}], "internal_flag"}}, [missing])``.

        One DescribeTopics call; topics unknown after the grace period are missing, other errors raise.
        """
        topics = sorted(set(topics))
        if not topics:
            return {}, []
        cluster = self.cluster

        def submit(names):
            return cluster.admin.describe_topics(TopicCollection(list(names)), **cluster.request_kwargs())

        ok, errors = self._collect("describe topics", submit, topics)
        missing = sorted(t for t, text in errors.items() if is_unknown_topic(text))
        others = dict((t, text) for t, text in errors.items() if t not in missing)
        if others:
            self._raise("describe topics", others)
        out = {}
        for name, d in ok.items():
            parts = sorted(({"id": p.id, "replicas": len(p.replicas), "isr": len(p.isr),
                             "leader": p.leader.id if p.leader is not None else None} for p in d.partitions),
                           key=lambda p: p["id"])
            out[name] = {"partitions": parts, "internal_flag": bool(getattr(d, "is_internal", False))}
        return out, missing

    def partitions(self, topics):
        """``({topic: partition count}, [missing topics])`` (one DescribeTopics call)."""
        described, missing = self.describe_topics(topics)
        return dict((t, len(d["partitions"])) for t, d in described.items()), missing

    # -- offsets -----------------------------------------------------------------------------------------
    def offsets_of_kinds(self, tps, kinds):
        """``({kind: {tp: offset}}, {(kind, tp): error})`` with one ListOffsets call per kind, all in flight at once.

        ``tps``: ``(topic, partition)`` pairs, or ``{kind: [tp, ...]}`` to ask each kind for its own
        partitions. Kinds: ``start`` (log start), ``end`` (high watermark), ``stable`` (last stable
        offset, READ_COMMITTED), ``("at", ms)`` (first offset with a timestamp >= ms, -1 if none).
        """
        if isinstance(tps, dict):
            wanted = dict((kind, sorted(set(tps.get(kind) or []))) for kind in kinds)
        else:
            members = sorted(set(tps))
            wanted = dict((kind, members) for kind in kinds)
        specs = dict((kind, _offset_spec(kind)) for kind in kinds)
        keys = [(kind, tp) for kind in kinds for tp in wanted[kind]]
        cluster = self.cluster

        def submit(pending):
            by_kind = {}
            for kind, tp in pending:
                by_kind.setdefault(kind, []).append(tp)
            futures = {}
            for kind, members in by_kind.items():
                spec, isolation = specs[kind]
                request = dict((TopicPartition(t, p), spec) for t, p in members)
                futs = cluster.admin.list_offsets(request, isolation_level=isolation, **cluster.request_kwargs())
                for tp, fut in futs.items():
                    futures[(kind, (tp.topic, tp.partition))] = fut
            return futures

        ok, errors = self._collect("list offsets", submit, keys)
        out = dict((kind, {}) for kind in kinds)
        for (kind, tp), info in ok.items():
            out[kind][tp] = info.offset
        return out, errors

    def offsets(self, tps, kind):
        """``{(topic, partition): offset}`` of one kind (see :meth:`offsets_of_kinds`) in ONE ListOffsets call.

        Any partition that cannot be read raises KafkaOpsError (after the retries).
        """
        out, errors = self.offsets_of_kinds(tps, [kind])
        if errors:
            self._raise("list offsets (%s)" % _kind_text(kind), errors)
        return out[kind]

    # -- consumer groups -----------------------------------------------------------------------------
    def list_groups(self):
        """Ids of every consumer group of the cluster, sorted (one ListGroups call)."""
        cluster = self.cluster
        try:
            fut = cluster.admin.list_consumer_groups(**cluster.request_kwargs())
        except Exception as exc:
            raise cluster.fail("list consumer groups", exc)
        res = cluster.result(fut, "list consumer groups")
        return sorted(set(g.group_id for g in res.valid)), [str(e) for e in (res.errors or [])]

    def committed(self, groups, tps=None, require_stable=False):
        """``{group: {(topic, partition): offset}}``: the committed offsets of each group (commits only).

        confluent-kafka takes one group per OffsetFetch call, so one call per group, all in flight at
        once. ``tps``: only these partitions (all the group committed on when None). ``require_stable``:
        the broker waits for pending transactional offset commits (a copier's) before answering.
        """
        groups = sorted(set(groups))
        if not groups:
            return {}
        cluster = self.cluster
        wanted = None if tps is None else [TopicPartition(t, p) for t, p in sorted(set(tps))]

        def submit(names):
            kwargs = cluster.request_kwargs()
            if require_stable:
                kwargs["require_stable"] = True
            futures = {}
            for g in names:
                request = ConsumerGroupTopicPartitions(g, list(wanted)) if wanted is not None else ConsumerGroupTopicPartitions(g)
                futures.update(cluster.admin.list_consumer_group_offsets([request], **kwargs))
            return futures

        ok, errors = self._collect("list consumer group offsets", submit, groups)
        if errors:
            self._raise("list consumer group offsets", errors)
        out = {}
        for g in groups:
            out[g] = dict(((tp.topic, tp.partition), tp.offset) for tp in ok[g].topic_partitions or []
                          if tp.error is None and tp.offset is not None and tp.offset >= 0)
        return out

    def groups(self, names):
        """``{group: {"state", "members", "type", "simple", "assignor", "clients", "assigned_topics"}}``.

        One DescribeGroups call. ``state`` is Kafka's name (``STABLE``, ``EMPTY``, ``DEAD``...); a group
        the coordinator does not know is ``DEAD`` with 0 members.
        """
        names = sorted(set(names))
        if not names:
            return {}
        cluster = self.cluster

        def submit(pending):
            return cluster.admin.describe_consumer_groups(list(pending), **cluster.request_kwargs())

        ok, errors = self._collect("describe consumer groups", submit, names)
        out, failed = {}, {}
        for g in names:
            if g in ok:
                d = ok[g]
                members = d.members or []
                topics = set()
                for m in members:
                    assignment = getattr(m, "assignment", None)
                    for tp in getattr(assignment, "topic_partitions", None) or []:
                        topics.add(tp.topic)
                out[g] = {"state": _state_name(d.state), "members": len(members),
                          "type": _state_name(getattr(d, "type", None)),
                          "simple": bool(d.is_simple_consumer_group), "assignor": d.partition_assignor or None,
                          "clients": sorted(set(m.client_id for m in members)), "assigned_topics": sorted(topics)}
            elif error_name(errors.get(g)) == "GROUP_ID_NOT_FOUND":
                out[g] = {"state": "DEAD", "members": 0, "type": None, "simple": None, "assignor": None,
                          "clients": [], "assigned_topics": []}
            else:
                failed[g] = errors.get(g)
        if failed:
            self._raise("describe consumer groups", failed)
        return out

    # -- configs -------------------------------------------------------------------------------------------
    def topic_configs(self, topics):
        """``{topic: {"effective": {key: value}, "non_default": {key: value}}}`` of each topic.

        ``non_default``: set on the topic itself (DYNAMIC_TOPIC_CONFIG); sensitive values masked.
        The read of :func:`topic_config_entries` (DescribeConfigs in chunks spread over up to
        :data:`CONFIG_CONNECTIONS` connections, all in flight at once). Topics deleted meanwhile are
        left out; any other failure raises (configs are what topics are created with elsewhere: no
        silent gaps).
        """
        entries, errors = topic_config_entries(self, topics)
        lost = dict((t, e) for t, e in errors.items() if not is_unknown_topic(e))
        if lost:
            self._raise("describe topic configs", lost)
        out = {}
        for name, by_key in entries.items():
            effective, nondefault = {}, {}
            for key, e in by_key.items():
                effective[key] = e["value"]
                if e["source"] == "DYNAMIC_TOPIC_CONFIG" and e["value"] is not None:
                    nondefault[key] = "********" if e["sensitive"] else e["value"]
            out[name] = {"effective": effective, "non_default": nondefault}
        return out

    def configs(self, topics):
        """``{topic: {key: value}}``: the non-default configs of each topic (set on the topic itself)."""
        return dict((t, c["non_default"]) for t, c in self.topic_configs(topics).items())

    def broker_configs(self, broker_ids):
        """``({broker id: {key: value}}, {broker id: error})``: librdkafka takes one BROKER resource per
        DescribeConfigs call, so one call per broker, all in flight at once."""
        cluster = self.cluster

        def submit(ids):
            futures = {}
            for b in ids:
                for _res, fut in cluster.admin.describe_configs([ConfigResource(ResourceType.BROKER, str(b))],
                                                                **cluster.request_kwargs()).items():
                    futures[b] = fut
            return futures

        ok, errors = self._collect("describe broker configs", submit, list(broker_ids))
        return dict((b, dict((k, e.value) for k, e in entries.items())) for b, entries in ok.items()), errors


def _kind_text(kind):
    return "at %s" % kind[1] if isinstance(kind, tuple) else kind


def _key_text(key):
    """``orders:3``, ``end orders:3``, a group id... for messages."""
    if isinstance(key, tuple) and len(key) == 2 and isinstance(key[1], tuple):
        return "%s %s" % (_kind_text(key[0]), _key_text(key[1]))
    if isinstance(key, tuple) and len(key) == 2 and isinstance(key[1], int):
        return "%s:%d" % key
    return str(key)


# ---------------------------------------------------------------------------------------------
# Consumer-group selection (added for group sync; kept apart so merges stay trivial)
# ---------------------------------------------------------------------------------------------
# Groups of this collection's own clients (the copy's reader, probes): never synced by discovery.
INTERNAL_GROUP_PREFIXES = ("kafkaops-migration-", "kafkaops-mirror-")


def is_internal_group(group_id):
    """True for the consumer groups of this collection's own clients (:data:`INTERNAL_GROUP_PREFIXES`)."""
    return str(group_id).startswith(INTERNAL_GROUP_PREFIXES)


def select_groups(group_ids, pattern=None):
    """The ids of ``group_ids`` that ``pattern`` (a regular expression, searched anywhere in the id)
    matches, sorted; the collection's own groups never. A bad pattern raises KafkaOpsError."""
    rx = compile_patterns([pattern], "group_pattern")[0] if pattern else None
    return sorted(g for g in set(group_ids) if not is_internal_group(g) and (rx is None or rx.search(g)))


# ---------------------------------------------------------------------------------------------
# Reads of topic sync and the copy (added by the topics/mirror helper; nothing above is changed):
# metadata with replication factors and errors, config entries with where their values come from,
# and metadata that settles (a topic just created or expanded) within the one retry policy.
# ---------------------------------------------------------------------------------------------
def view_of(cluster):
    """The :class:`ClusterView` of ``cluster`` (a :class:`connection.Cluster`; a view passes through)."""
    return cluster if isinstance(cluster, ClusterView) else ClusterView(cluster)


def topic_metadata(view):
    """``{topic: {"partitions": n, "replication_factor": r, "error": text or None}}`` of every topic.

    One Metadata call (internal topics included; :meth:`ClusterView.topics` is its partition counts). ``replication_factor``
    is the largest replica count among the topic's partitions; ``error`` the topic-level metadata error
    (e.g. a leader not yet elected for a topic being created), else None.
    """
    cluster = view.cluster
    try:
        md = cluster.admin.list_topics(timeout=cluster.timeout())
    except KafkaOpsError:
        raise
    except Exception as exc:
        raise cluster.fail("list topics", exc)
    out = {}
    for name, t in md.topics.items():
        out[name] = {"partitions": len(t.partitions),
                     "replication_factor": max([len(p.replicas) for p in t.partitions.values()] or [0]),
                     "error": t.error.str() if t.error is not None else None}
    return out


def settled_metadata(view, expect, seconds=UNKNOWN_TOPIC_GRACE):
    """:func:`topic_metadata`, asked again while a topic of ``expect`` is not shown as expected.

    ``expect``: ``{topic: minimum partition count}``. Brokers learn of a topic just created (or
    expanded) asynchronously; the Metadata call is repeated with the retry policy's back-off
    (:data:`RETRY_INTERVAL` doubling up to :data:`RETRY_MAX_INTERVAL`, :func:`wait.poll`) until every
    topic of ``expect`` shows, without error, at least its partitions, or ``seconds`` passed (default:
    the grace an unknown topic gets everywhere, :data:`UNKNOWN_TOPIC_GRACE`), never past the module's
    deadline. Then the answer stands: the caller decides what a topic still missing means.
    """
    budget = Deadline(view.cluster.timeout(seconds) if expect else 0)
    meta = {}
    for _elapsed in poll(RETRY_INTERVAL, budget, sleep=view.sleep, backoff=2.0, max_interval=RETRY_MAX_INTERVAL):
        meta = topic_metadata(view)
        short = [t for t, n in (expect or {}).items()
                 if t not in meta or meta[t]["error"] is not None or meta[t]["partitions"] < n]
        if not short or budget.expired:
            break
    return meta


def topic_config_entries(view, topics, batch=CONFIG_BATCH):
    """``({topic: {key: {"value", "source", "sensitive", "read_only"}}}, {topic: error})`` of each topic.

    Every config entry with where its value comes from (``source``: Kafka's ConfigSource name:
    ``DYNAMIC_TOPIC_CONFIG`` for a value set on the topic, ``DYNAMIC_BROKER_CONFIG``,
    ``DYNAMIC_DEFAULT_BROKER_CONFIG``, ``STATIC_BROKER_CONFIG``, ``DEFAULT_CONFIG``...). The same read
    as :meth:`ClusterView.topic_configs` (DescribeConfigs in chunks of at most ``batch`` topics, spread
    evenly over up to :data:`CONFIG_CONNECTIONS` connections, all in flight at once, retried by the one
    policy), except that a topic that cannot be read is returned in the errors instead of raising, for
    callers that report such a topic and go on with the others.
    """
    topics = sorted(set(topics))
    if not topics:
        return {}, {}
    cluster = view.cluster
    batch = max(int(batch or CONFIG_BATCH), 1)
    chunk_size = min(batch, max(1, -(-len(topics) // CONFIG_CONNECTIONS)))
    per_connection = -(-len(topics) // (chunk_size * CONFIG_CONNECTIONS))
    wait = cluster.timeout(cluster.request_timeout * max(per_connection, 1))
    admins = [cluster.admin]

    def submit(pending):
        pending = sorted(pending)
        size = min(batch, max(1, -(-len(pending) // CONFIG_CONNECTIONS)))
        parts = [pending[i:i + size] for i in range(0, len(pending), size)]
        while len(admins) < min(len(parts), CONFIG_CONNECTIONS):
            admins.append(AdminClient(cluster.client_config()))
        futures = {}
        for i, chunk in enumerate(parts):
            resources = [ConfigResource(ResourceType.TOPIC, n) for n in chunk]
            for res, fut in admins[i % len(admins)].describe_configs(resources, request_timeout=wait).items():
                futures[res.name] = fut
        return futures

    try:
        ok, errors = view._collect("describe topic configs", submit, topics, wait)
    finally:
        del admins[1:]
    out = {}
    for name, entries in ok.items():
        out[name] = dict((key, {"value": e.value, "source": _config_source_name(e.source), "sensitive": bool(e.is_sensitive),
                                "read_only": bool(e.is_read_only)}) for key, e in entries.items())
    return out, errors


def _config_source_name(source):
    """Kafka's ConfigSource name of an entry's source (an enum member or its number)."""
    name = getattr(source, "name", None)
    if name is not None:
        return name
    try:
        return ConfigSource(int(source)).name
    except (TypeError, ValueError, NameError):
        return str(source)
