# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The built-in copy engine of ``kafka_mirror``: exact, resumable, exactly-once topic copy.

Plain Python (no AnsibleModule here). How one record travels:

1. The source is read with ``isolation.level=read_committed`` (aborted records and transaction
   markers are never seen) by one consumer assigned to every selected partition; the source is never
   written to (no group, no committed offsets).
2. Each record is produced to the **same partition** of its target topic (the same name by default;
   the collection's one naming rule, :class:`alibaba.TopicNames`: the ``rename`` map, then for a
   target that refuses some names (``api: alibaba``) the ``rename_rule``, then ``target_prefix`` /
   ``target_suffix``; :func:`topic_names`) with its key, value, headers and timestamp (null keys,
   null values and tombstones included).
3. Records are grouped in transactions of a stable ``transactional.id`` (``kafkaops-mirror-<name>``).
   Per batch: ``begin_transaction``; produce the records; ``flush`` (the delivery reports give each
   record's target offset); produce one progress record per partition touched to the offset-map topic
   (format and helpers in ``offsetmap.py``); ``commit_transaction``. Data and progress are committed
   together or not at all.
4. On start, ``init_transactions`` fences any older copier of the same name and aborts its open
   transaction; only then is the map read (``read_committed``), and each partition resumes at the
   ``source_next`` of its last progress record. A crash at any point therefore resumes with no gap
   and no duplicate.

5. The copy stops when its controller is gone (:class:`ControllerWatch`, checked about once a
   second inside the copy loop): the open transaction is aborted, the progress file says
   ``interrupted`` with the last committed position, and the run fails. A progress file left
   ``running`` by a process that no longer exists is reported as stale and replaced.

What the copy reads of either cluster besides the records (topic existence and partition counts,
log start and last stable offsets, configs) goes through the admin layer (:class:`admin.ClusterView`,
:func:`admin.settled_metadata`) and its one retry policy; the data path (consumer, transactional
producer, offset map) is this file's own.

Memory is bounded whatever the data volume: the consumer's prefetch queue, the producer's queue and
the batch size are capped, and a batch's records are handed to the producer as they arrive.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import os
import re
import select
import socket
import stat
import sys
import time

from ansible_collections.kafkaops.migration.plugins.module_utils.admin import (
    RETRY_INTERVAL,
    RETRY_MAX_INTERVAL,
    SELECTION_OPTION_SPEC,
    UNKNOWN_TOPIC_GRACE,
    Selection,
    ensure_distinct,
    internal_kind,
    retriable,
    settled_metadata,
    view_of,
)
from ansible_collections.kafkaops.migration.plugins.module_utils.alibaba import (
    LOCAL_CONFIGS,
    RENAME_RULES,
    TopicNames,
    default_rename,
    map_topic_for,
    name_problem,
    name_rule_of,
    remark_for,
)
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import (
    HAS_CONFLUENT_KAFKA,
    Cluster,
    KafkaOpsError,
)
from ansible_collections.kafkaops.migration.plugins.module_utils.offsetmap import (
    TOPIC_CONFIG,
    OffsetMap,
    TranslationError,
    load_from_topic,
    progress_record,
)
from ansible_collections.kafkaops.migration.plugins.module_utils.topics import topic_name_problem
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline, poll

if HAS_CONFLUENT_KAFKA:
    from confluent_kafka import (
        TIMESTAMP_NOT_AVAILABLE,
        KafkaError,
        KafkaException,
        TopicPartition,
    )
    from confluent_kafka.admin import NewTopic

MODES = ("snapshot", "until_lag", "follow")

# Ansible argument spec of the built-in engine's options (documented in plugins/modules/kafka_mirror.py).
# ``include`` / ``exclude`` are the collection's one selection vocabulary (admin.Selection); the
# names this module had before stay as aliases.
_SELECTION = copy.deepcopy(SELECTION_OPTION_SPEC)
_SELECTION["include"]["aliases"] = ["topic_patterns"]
_SELECTION["exclude"]["aliases"] = ["exclude_patterns"]
MIRROR_OPTION_SPEC = dict(
    name=dict(type="str", default="default"),
    topics=dict(type="list", elements="str", default=[]),
    include=_SELECTION["include"],
    exclude=_SELECTION["exclude"],
    target_prefix=dict(type="str", default=""),
    target_suffix=dict(type="str", default=""),
    rename=dict(type="dict", default={}),
    rename_rule=dict(type="str", default="underscore", choices=list(RENAME_RULES)),
    mode=dict(type="str", default="snapshot", choices=list(MODES)),
    max_lag=dict(type="int", default=0),
    duration=dict(type="float", default=60.0),
    interval=dict(type="float", default=5.0),
    offset_map_topic=dict(type="str"),  # default: alibaba.map_topic_for(target)
    progress_file=dict(type="path"),
    batch_records=dict(type="int", default=500000),
    batch_bytes=dict(type="int", default=64 * 1024 * 1024),
    batch_seconds=dict(type="float", default=5.0),
)
# Old option name -> option (for callers of the core that do not go through AnsibleModule).
OPTION_ALIASES = {"topic_patterns": "include", "exclude_patterns": "exclude"}

_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
_AFFIX_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_PROGRESS_EVERY = 1.0  # seconds between two progress-file writes
_WATCH_EVERY = 1.0     # seconds between two looks at the controller (see ControllerWatch)


def transactional_id(name):
    return "kafkaops-mirror-%s" % name


def params_with_defaults(params):
    """The engine options with defaults filled in (for callers that do not go through AnsibleModule)."""
    params = dict(params or {})
    for alias, option in OPTION_ALIASES.items():
        if alias in params:
            value = params.pop(alias)
            if params.get(option) is None:
                params[option] = value
    out = dict((k, copy.deepcopy(v.get("default"))) for k, v in MIRROR_OPTION_SPEC.items())
    out.update(dict((k, v) for k, v in params.items() if v is not None or k not in out))
    return out


def check_params(params):
    """Validate the options that need no cluster; raise KafkaOpsError."""
    if not _NAME_RE.match(params.get("name") or ""):
        raise KafkaOpsError("name must be 1-200 characters of letters, digits, '.', '_' or '-', got %r" % params.get("name"))
    if params["mode"] not in MODES:
        raise KafkaOpsError("mode must be one of %s" % ", ".join(MODES))
    if not params.get("topics") and not params.get("include"):
        raise KafkaOpsError("give topics and/or include (alias topic_patterns): nothing is selected")
    selection(params)  # bad regular expressions name their option
    for name in params.get("topics") or []:
        kind = internal_kind(name)
        if kind is not None or name == params.get("offset_map_topic"):
            raise KafkaOpsError("topics: %s is an internal topic (%s) and is never copied; leave it out"
                                % (name, kind or "this copy's offset map"))
    for key in ("target_prefix", "target_suffix"):
        value = params.get(key) or ""
        if value and not _AFFIX_RE.match(value):
            raise KafkaOpsError("%s must be letters, digits, '.', '_' or '-', got %r" % (key, value))
    check_rename(params)
    for key in ("batch_records", "batch_bytes"):
        if int(params[key]) <= 0:
            raise KafkaOpsError("%s must be positive" % key)
    for key in ("batch_seconds", "interval"):
        if float(params[key]) <= 0:
            raise KafkaOpsError("%s must be positive" % key)
    if params["mode"] == "follow" and float(params["duration"]) <= 0:
        raise KafkaOpsError("duration must be positive in mode follow")
    if params["mode"] == "until_lag" and int(params["max_lag"]) < 0:
        raise KafkaOpsError("max_lag must be zero or positive")
    if params.get("offset_map_topic") is not None and not params["offset_map_topic"]:
        raise KafkaOpsError("offset_map_topic must not be empty (leave it out for the default)")


def selection(params):
    """The :class:`admin.Selection` of ``include`` / ``exclude``; the offset-map topic is never selected."""
    return Selection(params.get("include"), params.get("exclude"), extra_excluded=[params.get("offset_map_topic")])


def select_topics(available, params):
    """Names to copy: the exact ``topics`` plus those the :class:`admin.Selection` picks.

    Internal topics are never selected by a pattern (and are refused by name in
    :func:`check_params`); ``exclude`` applies to the exact names too. Returns
    ``(selected, missing, unmatched)``: ``missing`` are exact names absent from ``available``,
    ``unmatched`` the include patterns that match no available topic.
    """
    available = set(available)
    sel = selection(params)
    selected = set()
    missing = []
    for name in params.get("topics") or []:
        if name in available:
            selected.add(name)
        else:
            missing.append(name)
    if params.get("include") is not None:
        selected.update(sel.select(available))
    selected = set(n for n in selected if not any(p.fullmatch(n) for p in sel.exclude))
    return sorted(selected), sorted(set(missing)), sel.unmatched_includes(available)


def check_rename(params):
    """Validate ``rename`` / ``rename_rule`` (no cluster needed); return the rename map.

    The map is ``{source topic: target topic}`` with no two sources on one target
    (:func:`alibaba.validate_rename`); each target name, with ``target_prefix`` / ``target_suffix``,
    must be a legal Kafka topic name and neither an internal topic nor the offset map. Entries for
    topics this run does not select are allowed (the same map is given to every step).
    """
    names = topic_names(params)
    for source in sorted(names.rename, key=str):
        tname = names.target(source)
        why = topic_name_problem(tname)
        if why:
            raise KafkaOpsError("rename: the target topic %r of %r is not a legal Kafka topic name: %s" % (tname, source, why))
        kind = internal_kind(tname)
        if kind is not None or tname == params.get("offset_map_topic"):
            raise KafkaOpsError("rename: the target topic %r of %r is an internal topic (%s); give it another name"
                                % (tname, source, kind or "this copy's offset map"))
    return names.rename


def topic_names(params, target=None):
    """The run's :class:`alibaba.TopicNames`: ``rename`` first, then (a target with ``api: alibaba``)
    ``rename_rule`` for the names its name rule refuses, then ``target_prefix`` / ``target_suffix``."""
    return TopicNames.of(target, params.get("rename"), params.get("rename_rule"),
                         params.get("target_prefix") or "", params.get("target_suffix") or "")


def target_names(params, topics, target=None):
    """``{source topic: target topic}`` by :func:`topic_names` (``target``: for its name rule)."""
    return topic_names(params, target).mapping(topics)


def mirrormaker2_problem(params, target_options=None):
    """Refuse what the mirrormaker2 engine cannot do with topic names (raise KafkaOpsError; nothing changed yet).

    MirrorMaker 2 is deployed with IdentityReplicationPolicy: every topic keeps its name. So
    ``target_prefix`` / ``target_suffix`` and ``rename`` are refused, and with a target of ``api: alibaba``
    so is an exact name of ``topics`` the target's name rule refuses (the default rule would rename
    it). Topics selected by ``include`` patterns are not checked here.
    """
    tail = "(the mirrormaker2 engine keeps the topic names: IdentityReplicationPolicy); nothing was changed"
    if params.get("target_prefix") or params.get("target_suffix"):
        raise KafkaOpsError("target_prefix / target_suffix are supported by engine builtin only %s" % tail)
    if params.get("rename"):
        raise KafkaOpsError("rename is supported by engine builtin only %s" % tail)
    rule = name_rule_of(target_options)
    if rule is None:
        return
    invalid = dict((t, name_problem(t, rule)) for t in params.get("topics") or [])
    invalid = dict((t, why) for t, why in invalid.items() if why)
    if invalid:
        raise KafkaOpsError(
            "the target (api alibaba, name_rule %s) refuses these topic names and engine mirrormaker2 cannot rename "
            "them (IdentityReplicationPolicy): %s; use engine builtin (rename, rename_rule), nothing was changed"
            % (rule, "; ".join("%s: %s" % (t, why) for t, why in sorted(invalid.items()))), invalid=invalid)


class PartitionState:
    """Where one partition stands: resume point, end of the snapshot, what this run copied."""

    __slots__ = ("topic", "partition", "target_topic", "start", "end", "low", "next", "copied", "bytes", "done",
                 "resumed")

    def __init__(self, topic, partition, target_topic=None):
        self.topic = topic
        self.partition = partition
        self.target_topic = target_topic or topic  # same partition number on the target
        self.start = None      # first source offset this run reads
        self.end = None        # last stable offset seen at start (snapshot bound)
        self.low = None        # log start offset of the source partition
        self.next = None       # next source offset to read (moves past markers and aborted data)
        self.copied = 0
        self.bytes = 0
        self.done = False
        self.resumed = False   # the map had a progress record for it

    @property
    def key(self):
        return (self.topic, self.partition)

    def lag(self, end=None):
        end = self.end if end is None else end
        if end is None or self.next is None:
            return None
        return max(0, end - self.next)

    def to_dict(self):
        return {"topic": self.topic, "target_topic": self.target_topic, "partition": self.partition,
                "start": self.start, "next": self.next,
                "end": self.end, "copied": self.copied, "bytes": self.bytes, "lag": self.lag(),
                "resumed": self.resumed}


def _offsets(view, keys, kinds):
    """``{kind: {(topic, partition): offset}}`` through the admin layer (:meth:`admin.ClusterView.offsets_of_kinds`:
    one ListOffsets call per kind, all in flight at once, retried by the one retry policy).

    Kinds used by the copy: ``start`` (the log start) and ``stable`` (the last stable offset: what a
    ``read_committed`` reader reaches, the snapshot bound). Any partition that cannot be read fails.
    """
    if not keys:
        return dict((kind, {}) for kind in kinds)
    out, errors = view.offsets_of_kinds(keys, kinds)
    if errors:
        first = sorted(errors.items(), key=lambda kv: (str(kv[0][0]), kv[0][1]))[:5]
        raise KafkaOpsError("%s: list offsets failed for %d partition(s): %s" % (view, len(errors), "; ".join(
            "%s %s:%d: %s" % (kind, tp[0], tp[1], err) for (kind, tp), err in first)))
    return out


def _config_values(view, names, keys=("cleanup.policy", "message.timestamp.type")):
    """``{topic: {key: effective value}}`` of ``keys`` (:meth:`admin.ClusterView.topic_configs`)."""
    if not names:
        return {}
    return dict((t, dict((k, c["effective"][k]) for k in keys if k in c["effective"]))
                for t, c in view.topic_configs(names).items())


def _topic_partitions(view, expect=None):
    """``{topic: partition count}`` of every topic the cluster's metadata shows without error.

    Brokers learn about new topics asynchronously: while a topic of ``expect`` (``{name: minimum
    partitions}``) is not shown so, the metadata is asked again by the admin layer's one retry policy
    (:func:`admin.settled_metadata`: back-off within the unknown-topic grace); then the answer stands.
    """
    meta = settled_metadata(view, expect or {})
    return dict((name, m["partitions"]) for name, m in meta.items() if m["error"] is None)


class Plan:
    """What a run would copy, validated before anything is changed."""

    def __init__(self):
        self.topics = []
        self.target_topics = {}   # source topic -> target topic
        self.renamed = {}         # source topic -> target name (before prefix/suffix), those that change
        self.missing_target_topics = []  # check mode only: topics topic sync would create
        self.partitions = {}      # (topic, partition) -> PartitionState
        self.warnings = []
        self.map_exists = False
        self.target_brokers = 0
        self.source_configs = {}
        self.target_configs = {}

    def pending(self):
        return sum(p.lag() or 0 for p in self.partitions.values())


def plan_copy(source, target, params, check_mode=False):
    """Validate the selection against both clusters; return a :class:`Plan` (no change anywhere).

    In check mode a target topic that is missing does not fail the plan: it is reported as one that
    topic sync would create (with the source's partition count, empty), and every record is pending.
    """
    check_params(params)
    source, target = view_of(source), view_of(target)  # every read through the admin layer
    map_topic = params["offset_map_topic"]
    src_topics = _topic_partitions(source, expect=dict((t, 1) for t in params.get("topics") or []))
    selected, missing, unmatched = select_topics(src_topics, params)
    if missing:
        raise KafkaOpsError("topics not found on the %s: %s" % (source, ", ".join(missing)), missing_topics=missing)
    if not selected:
        raise KafkaOpsError("no topic on the %s matches topics/include (internal topics are never selected)" % source)
    naming = topic_names(params, target)
    names = naming.mapping(selected)
    invalid = naming.problems(selected, src_topics)
    if invalid:
        raise KafkaOpsError("target topic names are refused or collide, nothing was copied: %s"
                            % "; ".join("%s: %s" % (t, why) for t, why in sorted(invalid.items())), invalid=invalid)
    rule = name_rule_of(target)
    why = name_problem(map_topic, rule) if rule else None
    if why:
        raise KafkaOpsError("the offset map topic: %s (the target's name rule %s), nothing was copied: set offset_map_topic "
                            "to a name it takes, e.g. %s" % (why, rule, default_rename(map_topic, rule)))
    if map_topic in names.values():
        raise KafkaOpsError("the offset map topic %r cannot be a copy's target topic (source topic %s)"
                            % (map_topic, [s for s, t in names.items() if t == map_topic][0]))
    wanted = sorted(set(names.values()))
    tgt_topics = _topic_partitions(target, expect=dict((names[t], src_topics[t]) for t in selected))
    problems, absent = [], []
    for name in selected:
        tname = names[name]
        shown = name if tname == name else "%s (target topic of %s)" % (tname, name)
        if tname not in tgt_topics:
            absent.append(tname)
            problems.append("%s is missing on the target (create it first, e.g. with kafkaops.migration.kafka_topic_sync"
                            "%s)" % (shown, _same_options(params, naming, name)))
        elif tgt_topics[tname] < src_topics[name]:
            problems.append("%s has %d partitions on the target, fewer than the %d on the source"
                            % (shown, tgt_topics[tname], src_topics[name]))
    if problems and not (check_mode and len(absent) == len(problems)):
        raise KafkaOpsError("target topics are not ready, nothing was copied: %s" % "; ".join(problems),
                            problems=problems)
    plan = Plan()
    plan.topics = selected
    plan.target_topics = names
    plan.renamed = naming.renamed(selected)
    plan.missing_target_topics = sorted(absent)
    plan.target_brokers = len(target.describe()["brokers"])
    plan.map_exists = map_topic in tgt_topics
    for pattern in unmatched:
        plan.warnings.append("include pattern %r matches no topic on the source" % pattern)
    for tname in plan.missing_target_topics:
        plan.warnings.append("target topic %s does not exist yet: would be created by topic sync (check mode)" % tname)
    plan.source_configs = _config_values(source, selected)
    tgt_configs = _config_values(target, [t for t in wanted if t in tgt_topics])
    plan.target_configs = dict((s, tgt_configs.get(t, {})) for s, t in names.items())
    for name in selected:
        src, tgt = plan.source_configs.get(name, {}), plan.target_configs.get(name, {})
        tname = names[name]
        if tgt.get("message.timestamp.type") == "LogAppendTime":
            plan.warnings.append("target topic %s uses LogAppendTime: the broker overwrites the copied timestamps" % tname)
        if src.get("message.timestamp.type") == "LogAppendTime":
            plan.warnings.append("source topic %s uses LogAppendTime: its timestamps are copied as CreateTime values" % name)
        if "compact" in (tgt.get("cleanup.policy") or "") and "compact" not in (src.get("cleanup.policy") or ""):
            plan.warnings.append("target topic %s is compacted but the source is not: records without a key will be rejected" % tname)
    for name in selected:
        for p in range(src_topics[name]):
            plan.partitions[(name, p)] = PartitionState(name, p, names[name])
    offsets = _offsets(source, sorted(plan.partitions), ["start", "stable"])
    for key, st in plan.partitions.items():
        st.low = offsets["start"][key]
        st.end = offsets["stable"][key]
    return plan


def _same_options(params, naming, name):
    """`` and the same <options>`` that make ``name``'s target topic, for a "missing on the target" message."""
    options = []
    if name in naming.rename:
        options.append("rename map (rename)")
    elif naming.base(name) != name:
        options.append("rename_rule (the target's name rule renames it)")
    if params.get("target_prefix") or params.get("target_suffix"):
        options.append("target_prefix/target_suffix")
    return " and the same %s" % " and ".join(options) if options else ""


def apply_resume_points(plan, omap, map_topic=None):
    """Set each partition's start from the offset map (``None``: never copied, start at the beginning)."""
    check_layout(plan, omap, map_topic)
    problems = []
    for key, st in plan.partitions.items():
        pm = omap.partitions.get(key) if omap is not None else None
        if pm is not None and pm.source_next is not None:
            st.start = pm.source_next
            st.resumed = True
            if st.start < st.low:
                problems.append("%s:%d resumes at offset %d but the source log now starts at %d"
                                % (key[0], key[1], st.start, st.low))
        else:
            st.start = st.low
        st.next = st.start
        st.done = st.end is not None and st.start >= st.end
    if problems:
        raise KafkaOpsError("records were deleted from the source before they were copied (no gap is allowed): %s"
                            % "; ".join(problems[:10]), problems=problems)


def check_layout(plan, omap, map_topic=None):
    """Refuse to mix two target layouts in one offset map.

    The map is keyed by source partition: a source topic already copied (by any name) into one
    target topic cannot be resumed into another one (another prefix/suffix, rename map or rename
    rule), or group sync would translate onto the wrong topic and the resume points would be shared.
    Another layout needs its own ``offset_map_topic``.
    """
    if omap is None:
        return
    clashes = {}
    for key, st in plan.partitions.items():
        pm = omap.partitions.get(key)
        if pm is not None and pm.target_topic != st.target_topic:
            clashes[st.topic] = (pm.target_topic, st.target_topic)
    if clashes:
        raise KafkaOpsError(
            "nothing was copied: the offset map%s already records %s; one offset map holds one target layout "
            "(target_prefix/target_suffix, rename, rename_rule): keep the earlier layout, or give this one its own offset_map_topic "
            "(and name)" % (" %s" % map_topic if map_topic else "", "; ".join(
                "%s copied into %s, this run would copy it into %s" % (t, old, new)
                for t, (old, new) in sorted(clashes.items()))),
            layout_conflicts=dict((t, {"recorded": o, "requested": n}) for t, (o, n) in clashes.items()))


def ensure_map_topic(target, topic, brokers):
    """Create the offset-map topic on the target; True if this call created it.

    On a target of ``api: alibaba`` through the OpenAPI (the service takes no CreateTopics from Kafka
    clients): CreateTopic with local storage, one partition and the longest retention it allows
    (:data:`alibaba.LOCAL_CONFIGS`; cloud storage would keep the map only for the instance's retention).
    """
    if getattr(target, "api", "kafka") == "alibaba":
        return ensure_map_topic_alibaba(target, topic)
    rf = max(1, min(3, brokers))
    new = NewTopic(topic, num_partitions=1, replication_factor=rf, config=dict(TOPIC_CONFIG))
    try:
        futures = target.admin.create_topics([new], **target.request_kwargs())
    except Exception as exc:
        raise target.fail("create offset map topic %s" % topic, exc)
    ok, errors = target.results(futures, "create offset map topic %s" % topic)
    if errors:
        err = errors[topic]
        if "TOPIC_ALREADY_EXISTS" in err:
            return False
        raise KafkaOpsError("%s: create offset map topic %s failed: %s" % (target, topic, err))
    # Metadata propagates asynchronously; wait (the one retry policy's back-off, within the
    # cluster's request timeout) until the topic is visible before producing to it.
    settled_metadata(view_of(target), {topic: 1}, seconds=target.request_timeout)
    return True


def ensure_map_topic_alibaba(target, topic):
    """:func:`ensure_map_topic` through the instance's OpenAPI."""
    api = target.alibaba
    if topic in api.topics():
        return False
    api.create_topic(topic, 1, remark_for(topic), local=True, replication_factor=3,
                     config={"retention.ms": LOCAL_CONFIGS["retention.ms"][1]})
    settled_metadata(view_of(target), {topic: 1}, seconds=target.request_timeout)
    return True


def load_map(target, topic):
    """The offset map read from ``topic`` (``read_committed``).

    Retried by the admin layer's one retry policy (:func:`wait.poll` with its back-off): an unknown
    topic or partition (a new topic's metadata still spreading) within the unknown-topic grace, the
    retriable errors (:data:`admin.RETRIABLE_ERRORS`) within the cluster's request timeout.
    """
    budget = Deadline(target.timeout())
    for elapsed in poll(RETRY_INTERVAL, budget, backoff=2.0, max_interval=RETRY_MAX_INTERVAL):
        try:
            return load_from_topic(target, topic)
        except TranslationError as exc:
            raise KafkaOpsError("%s: reading the offset map failed: %s" % (target, exc))
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            name = err.name() if isinstance(err, KafkaError) else ""
            if budget.expired or not retriable(name, elapsed < UNKNOWN_TOPIC_GRACE):
                raise target.fail("reading the offset map topic %s" % topic, exc)
    raise KafkaOpsError("%s: reading the offset map topic %s: no answer within the request timeout" % (target, topic))


# ---------------------------------------------------------------------------------------------
# The controller: the process that started this copy (ansible-playbook, a shell, a supervisor)
# ---------------------------------------------------------------------------------------------
class ControllerGone(KafkaOpsError):
    """The copy's controller is gone; the copier stops (see :class:`ControllerWatch`)."""


def _proc_stat(pid, proc="/proc"):
    """``(ppid, session id, start time in clock ticks since boot)`` of ``pid`` from /proc, or None."""
    try:
        with open("%s/%d/stat" % (proc, pid)) as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # fields[0] is the state (field 3 of proc(5)): ppid is field 4, session 6, starttime 22.
    return int(fields[1]), int(fields[3]), int(fields[19])


def _proc_name(pid, proc="/proc"):
    try:
        with open("%s/%d/cmdline" % (proc, pid), "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()[:120]
    except OSError:
        return "?"


def process_start(pid, proc="/proc"):
    """Start time (clock ticks since boot) of ``pid``, or None; tells a process from a later one with its pid."""
    st = _proc_stat(pid, proc)
    return st[2] if st else None


def process_alive(pid, start=None, proc="/proc"):
    """Whether ``pid`` exists and, when ``start`` is given and /proc tells, started at ``start``."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except (OSError, ValueError, TypeError):
        return False
    if start is not None:
        now = process_start(int(pid), proc)
        if now is not None and now != start:
            return False
    return True


class ControllerWatch:
    """Tells whether the controller of this process is gone.

    Seen with ansible-core 2.19 (connection local): the module runs as ``python AnsiballZ_x.py``
    under two ``/bin/sh -c`` processes, under an ansible-playbook worker that made itself a session
    leader (setsid), under the ansible-playbook main process. A ``kill -9`` of ansible-playbook
    leaves the worker, both shells and the module running: the module's own parent never changes.
    What changes is the worker's parent (it is re-parented to init or a subreaper). The module's
    stdin is a pipe whose writer is already closed when it starts (POLLHUP at once), so EOF on it
    says nothing there.

    So, at start, the chain of ancestors from this process up to its session leader is recorded
    (pid, parent pid, start time); the controller is gone when one of them no longer exists, is
    another process with that pid, or has another parent (re-parented: its parent died). This covers
    ``os.getppid()`` changing. Besides, when stdin is at start a pipe or socket still open with
    nothing to read, its EOF or hang-up also means the controller is gone. Without /proc only the
    parent pid and stdin are watched. Ansible ``async`` jobs run under a daemonized wrapper whose
    chain never changes: they go on after the controller ends, as async jobs should.
    """

    def __init__(self, proc="/proc", stdin_fd=0):
        self.proc = proc
        self.stdin_fd = stdin_fd
        self.ppid = os.getppid()
        self.chain = self._ancestry()
        self.watch_stdin = self._stdin_open_pipe()

    def _ancestry(self, depth=24):
        chain = []
        pid = os.getpid()
        mine = _proc_stat(pid, self.proc)
        if mine is None:
            return chain
        sid = mine[1]
        while pid > 1 and len(chain) < depth:
            st = _proc_stat(pid, self.proc)
            if st is None:
                break
            chain.append((pid, st[0], st[2]))
            if pid == sid:
                break
            pid = st[0]
        return chain

    def _poll_stdin(self):
        poller = select.poll()
        poller.register(self.stdin_fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        return [ev for _fd, ev in poller.poll(0)]

    def _stdin_open_pipe(self):
        try:
            mode = os.fstat(self.stdin_fd).st_mode
            if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
                return False
            return not self._poll_stdin()
        except (OSError, ValueError, AttributeError):
            return False

    def gone(self):
        """Why the controller is gone (text), or None while it is there."""
        if os.getppid() != self.ppid:
            return "the parent process %d is gone (now %d)" % (self.ppid, os.getppid())
        for pid, ppid, start in self.chain[1:]:
            st = _proc_stat(pid, self.proc)
            if st is None or st[2] != start:
                return "process %d that started this copy is gone" % pid
            if st[0] != ppid:
                return "the parent %d of process %d (%s) is gone" % (ppid, pid, _proc_name(pid, self.proc))
        if self.watch_stdin:
            try:
                events = self._poll_stdin()
                if any(ev & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for ev in events):
                    return "stdin was closed"
                if events and not os.read(self.stdin_fd, 65536):
                    return "stdin reached EOF"
            except (OSError, ValueError):
                return "stdin was closed"
        return None


# ---------------------------------------------------------------------------------------------
# The progress file
# ---------------------------------------------------------------------------------------------
def read_progress(path):
    """The progress file's content (dict), or None when absent or unreadable."""
    try:
        with open(path) as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def stale_progress(path):
    """Look at a progress file before a run: ``(stale, warning)``.

    A file saying ``running`` whose process no longer exists (a copier killed hard: SIGKILL, OOM,
    host crash) is stale: ``stale`` describes it (``pid``, ``host``, ``started``, ``updated``,
    ``records``) and the run replaces it. A file saying ``running`` whose process still runs on this
    host raises KafkaOpsError: another copy writes that file. Otherwise ``(None, None)``.
    """
    data = read_progress(path) if path else None
    if not data or data.get("status") != "running":
        return None, None
    pid, host = data.get("pid"), data.get("host")
    info = dict((k, data.get(k)) for k in ("pid", "host", "started", "updated", "records", "name"))
    if host and host != socket.gethostname():
        return info, ("progress file %s says running, written on host %s: it cannot be checked from here; "
                      "replaced" % (path, host))
    if isinstance(pid, int) and pid != os.getpid() and process_alive(pid, data.get("process_start")):
        raise KafkaOpsError("progress file %s is being written by a running copier (pid %d, copy %s): stop it "
                            "first or give another progress_file; nothing was changed" % (path, pid, data.get("name")),
                            progress_pid=pid)
    return info, ("progress file %s said running, but its copier (pid %s) no longer exists: it was stopped "
                  "without cleaning up (e.g. killed with SIGKILL) after %s records; the file is stale and is "
                  "replaced" % (path, pid if pid is not None else "not recorded", data.get("records")))


class _BatchPart:
    """One partition's share of the open transaction."""

    __slots__ = ("st", "src", "slots", "saved")

    def __init__(self, st):
        self.st = st
        self.src = []      # source offsets, in produce order
        self.slots = []    # [first target offset, last target offset, count, index in src] per run
        self.saved = (st.next, st.copied, st.bytes, st.done)


def _slot_callbacks(slot, errors):
    """Delivery callbacks that note the target offsets of a run's first and last record."""

    def first(err, msg):
        if err is not None:
            errors.append("%s:%s: %s" % (msg.topic(), msg.partition(), err.str()))
        else:
            slot[0] = msg.offset()
            if slot[2] == 1:
                slot[1] = slot[0]

    def last(err, msg):
        if err is not None:
            errors.append("%s:%s: %s" % (msg.topic(), msg.partition(), err.str()))
        else:
            slot[1] = msg.offset()

    return first, last


class Copier:
    """Runs the copy loop for a validated :class:`Plan`."""

    def __init__(self, source, target, params, plan, deadline=None, clock=time.monotonic, watch=None):
        # Clusters or admin.ClusterViews: reads go through the views, the data path uses the clusters.
        self.source_view, self.target_view = view_of(source), view_of(target)
        self.source, self.target = self.source_view.cluster, self.target_view.cluster
        self.params = params
        self.plan = plan
        self.deadline = deadline or Deadline(None)
        self.clock = clock
        self.map_topic = params["offset_map_topic"]
        self.records = 0
        self.bytes = 0
        self.transactions = 0
        self.started = clock()
        self.stopped = None
        self.map_created = False
        self.status = "starting"
        self.watch = watch if watch is not None else ControllerWatch()
        self.interrupted = None  # why the controller is gone, when it is
        self.stale_progress = None
        self.wall_started = time.time()
        self._last_watch = clock()
        self._source_of = dict((t, s) for s, t in plan.target_topics.items())
        self._last_progress_write = 0.0
        self._producer = None
        self._consumer = None
        self._in_txn = False
        self.rollbacks = 0
        self._full_reports = False  # a delivery report per record (see _one_batch)
        # per-batch state
        self._batch = {}    # (topic, partition) -> _BatchPart
        self._tgt = {}      # (topic, partition) -> [target offsets] in delivery order (full reports)
        self._errors = []

    # -- the run ---------------------------------------------------------------------------------
    def run(self):
        try:
            self._start()
            self._loop()
            self.status = "done"
        except ControllerGone as exc:
            self.status = "interrupted"
            self._abort_quietly()
            self._close()
            self._write_progress(force=True, error=exc.msg)
            exc.details.update(self.result())
            raise
        except KafkaOpsError as exc:
            self.status = "failed"
            self._abort_quietly()
            self._write_progress(force=True, error=exc.msg)
            exc.details.update(self.result())
            raise
        except BaseException:
            self.status = "failed"
            self._abort_quietly()
            raise
        finally:
            self.stopped = self.clock()
            self._close()
        self._write_progress(force=True)
        return self.result()

    def _start(self):
        self.status = "running"
        self._write_progress(force=True)
        if not self.plan.map_exists:
            self.map_created = ensure_map_topic(self.target, self.map_topic, self.plan.target_brokers)
        producer_conf = {
            "transactional.id": transactional_id(self.params["name"]),
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "batch.size": 1000000,
            "queue.buffering.max.kbytes": 131072,
            "queue.buffering.max.messages": 1000000,
            "transaction.timeout.ms": 120000,
        }
        self._producer = self.target.producer(**producer_conf)
        try:
            # Fences an older copier of the same name and aborts its open transaction: after this,
            # the map's committed content is final, and it is safe to read it.
            self._producer.init_transactions(self.target.timeout(max(self.target.request_timeout, 30)))
        except KafkaException as exc:
            raise self.target.fail("init transactions (transactional.id %s)" % transactional_id(self.params["name"]), exc)
        # A map topic this run just created is empty: nothing to read.
        omap = OffsetMap() if self.map_created else load_map(self.target, self.map_topic)
        apply_resume_points(self.plan, omap, self.map_topic)
        assign = [TopicPartition(st.topic, st.partition, st.start)
                  for key, st in sorted(self.plan.partitions.items()) if self._wanted(st)]
        consumer_conf = {
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "auto.offset.reset": "error",
            "queued.max.messages.kbytes": 32768,
            "fetch.max.bytes": 16 * 1024 * 1024,
            "max.partition.fetch.bytes": 1048576,
            "fetch.wait.max.ms": 100,
        }
        self._consumer = self.source.consumer(group_id="kafkaops-mirror-%s" % self.params["name"], **consumer_conf)
        if assign:
            self._consumer.assign(assign)

    def _wanted(self, st):
        return not (self.params["mode"] == "snapshot" and st.done)

    def _finished(self):
        mode = self.params["mode"]
        if mode == "snapshot":
            return all(st.done for st in self.plan.partitions.values())
        if mode == "follow":
            return self.clock() - self.started >= float(self.params["duration"])
        return False

    def _loop(self):
        mode = self.params["mode"]
        interval = float(self.params["interval"])
        last_lag_check = None
        while True:
            if mode == "until_lag" and (last_lag_check is None or self.clock() - last_lag_check >= interval):
                last_lag_check = self.clock()
                if self._lag_reached():
                    return
            if self._finished():
                return
            self._check_deadline()
            if self.clock() - self._last_watch >= _WATCH_EVERY:
                self._check_controller()
            self._one_batch()

    def _check_deadline(self):
        remaining = self.deadline.remaining()
        if remaining is not None and remaining <= 0:
            raise KafkaOpsError("the module timeout ran out after copying %d records (%s); run again to resume"
                                % (self.records, self.params["mode"]), timed_out=True)

    def _check_controller(self):
        """Stop (raise ControllerGone) when the controller is gone; called about once a second."""
        self._last_watch = self.clock()
        why = self.watch.gone()
        if why is None:
            return
        self.interrupted = why
        raise ControllerGone(
            "the copy's controller is gone (%s): the copier stopped, the open transaction was aborted, %d records "
            "were committed by this run; run again with the same name to resume" % (why, self.records),
            interrupted=True, interrupted_reason=why)

    def _lag_reached(self):
        ends = _offsets(self.source_view, sorted(self.plan.partitions), ["stable"])["stable"]
        for key, st in self.plan.partitions.items():
            st.end = ends[key]
        self._write_progress(force=True)
        return self.lag() <= int(self.params["max_lag"])

    def lag(self):
        return sum(st.lag() or 0 for st in self.plan.partitions.values())

    # -- one transaction -------------------------------------------------------------------------
    def _one_batch(self):
        """Copy one batch in one transaction.

        Records of a partition are produced in their source order; the idempotent transactional
        producer keeps that order on the target. To learn every record's target offset without a
        delivery report per record, each run of records given to the producer for one partition has
        a report on its first and its last record only: when ``last - first == n - 1`` the run sits
        at exactly ``first..last``. If another writer's record landed in between (the run is not
        contiguous), the batch is rolled back and copied again with a report per record.
        """
        p = self.params
        max_records, max_bytes = int(p["batch_records"]), int(p["batch_bytes"])
        batch_end = self.clock() + float(p["batch_seconds"])
        if p["mode"] == "follow":
            batch_end = min(batch_end, self.started + float(p["duration"]))
        remaining = self.deadline.remaining()
        if remaining is not None:
            batch_end = min(batch_end, self.clock() + max(remaining - 5.0, 0.5))
        self._batch, self._tgt, self._errors = {}, {}, []
        parts, batch = self.plan.partitions, self._batch
        snapshot = p["mode"] == "snapshot"
        full = self._full_reports
        n = nbytes = 0
        producer, consumer = self._producer, self._consumer
        produce, on_delivery, errors = producer.produce, self._on_delivery, self._errors
        eof_code = KafkaError._PARTITION_EOF
        not_available = TIMESTAMP_NOT_AVAILABLE
        while n < max_records and nbytes < max_bytes:
            now = self.clock()
            if now - self._last_watch >= _WATCH_EVERY:
                self._check_controller()
            if now >= batch_end or (snapshot and self._finished()):
                break
            msgs = consumer.consume(min(max_records - n, 10000), timeout=min(0.2, max(batch_end - now, 0.001)))
            if not msgs:
                continue
            groups, eofs = {}, []
            for m in msgs:
                err = m.error()
                if err is not None:
                    if err.code() == eof_code:  # applied after this chunk's records are produced
                        eofs.append((parts[(m.topic(), m.partition())], m.offset()))
                        continue
                    raise KafkaOpsError("%s: reading %s:%s failed: %s" % (self.source, m.topic(), m.partition(), err.str()))
                key = (m.topic(), m.partition())
                group = groups.get(key)
                if group is None:
                    group = groups[key] = []
                group.append(m)
            for key, group in groups.items():
                st = parts[key]
                if snapshot:
                    while group and group[-1].offset() >= st.end:
                        group.pop()
                    if not group:
                        self._reached(st, st.end)
                        continue
                if not self._in_txn:
                    self._begin()
                entry = batch.get(key)
                if entry is None:
                    entry = batch[key] = _BatchPart(st)
                src = entry.src
                topic, part = st.target_topic, key[1]
                count = len(group)
                if not full:
                    slot = [None, None, count, len(src)]
                    entry.slots.append(slot)
                    first_cb, last_cb = _slot_callbacks(slot, errors)
                size = 0
                for i, m in enumerate(group):
                    value, mkey = m.value(), m.key()
                    kwargs = {"partition": part}
                    if full:
                        kwargs["on_delivery"] = on_delivery
                    elif i == 0:
                        kwargs["on_delivery"] = first_cb
                    elif i == count - 1:
                        kwargs["on_delivery"] = last_cb
                    ts_type, ts = m.timestamp()
                    if ts_type != not_available:
                        kwargs["timestamp"] = ts
                    headers = m.headers()
                    if headers:
                        kwargs["headers"] = headers
                    try:
                        produce(topic, value, mkey, **kwargs)
                    except BufferError:
                        self._produce_when_room(topic, value, mkey, kwargs)
                    except KafkaException as exc:
                        raise self.target.fail("writing record %s:%d@%d" % (key[0], part, m.offset()), exc)
                    src.append(m.offset())
                    size += (len(mkey) if mkey is not None else 0) + (len(value) if value is not None else 0)
                last = src[-1] + 1
                if last > st.next:
                    st.next = last
                st.copied += count
                st.bytes += size
                n += count
                nbytes += size
                if snapshot and st.next >= st.end:
                    self._reached(st, st.next)
            for st, offset in eofs:
                self._reached(st, offset)
            producer.poll(0)
        if self._in_txn:
            self._commit(n, nbytes)
        self._write_progress()

    def _produce_when_room(self, topic, value, key, kwargs):
        while True:
            self._producer.poll(0.05)
            if self.clock() - self._last_watch >= _WATCH_EVERY:
                self._check_controller()
            try:
                self._producer.produce(topic, value, key, **kwargs)
                return
            except BufferError:
                continue

    def _reached(self, st, offset):
        """The consumer got to ``offset`` in ``st`` (EOF or past the snapshot end)."""
        if offset > st.next:
            st.next = offset
        if self.params["mode"] == "snapshot" and not st.done and st.next >= st.end:
            st.done = True
            self._consumer.pause([TopicPartition(st.topic, st.partition)])

    def _on_delivery(self, err, msg):
        if err is not None:
            self._errors.append("%s:%s: %s" % (msg.topic(), msg.partition(), err.str()))
            return
        key = (self._source_of.get(msg.topic(), msg.topic()), msg.partition())
        tgt = self._tgt.get(key)
        if tgt is None:
            tgt = self._tgt[key] = []
        tgt.append(msg.offset())

    def _begin(self):
        try:
            self._producer.begin_transaction()
        except KafkaException as exc:
            raise self.target.fail("begin transaction", exc)
        self._in_txn = True

    def _target_offsets(self, key, entry):
        """Target offsets of the batch's records of ``key`` (in order), or None if a run is not contiguous."""
        if self._full_reports:
            tgt = self._tgt.get(key) or []
            if len(tgt) != len(entry.src) or any(b <= a for a, b in zip(tgt, tgt[1:])):
                raise KafkaOpsError("%s: delivery reports of %s:%d do not match the records produced (%d of %d)"
                                    % (self.target, key[0], key[1], len(tgt), len(entry.src)))
            return tgt
        tgt = []
        for first, last, count, dummy in entry.slots:
            if first is None or last is None:
                raise KafkaOpsError("%s: no delivery report for records of %s:%d" % (self.target, key[0], key[1]))
            if last - first != count - 1 or (tgt and first <= tgt[-1]):
                return None
            tgt.extend(range(first, last + 1))
        return tgt

    def _commit(self, n, nbytes):
        producer = self._producer
        remaining = producer.flush(self.target.timeout(max(self.target.request_timeout, 60)))
        if remaining:
            raise KafkaOpsError("%s: %d records were not acknowledged in time; the batch is rolled back" % (self.target, remaining))
        if self._errors:
            raise KafkaOpsError("%s: writing records failed, the batch is rolled back: %s"
                                % (self.target, "; ".join(self._errors[:5])), delivery_errors=len(self._errors))
        offsets = {}
        for key, entry in self._batch.items():
            tgt = self._target_offsets(key, entry)
            if tgt is None:
                self._redo_with_full_reports(key)
                return
            offsets[key] = tgt
        now_ms = int(time.time() * 1000)
        for key, entry in self._batch.items():
            src, tgt = entry.src, offsets[key]
            k, v = progress_record(key[0], key[1], list(zip(src, tgt)), src[-1] + 1, tgt[-1] + 1,
                                   target_topic=entry.st.target_topic, now_ms=now_ms)
            try:
                producer.produce(self.map_topic, v, k)
            except BufferError:
                self._produce_when_room(self.map_topic, v, k, {})
        for attempt in range(10):
            try:
                producer.commit_transaction(self.target.timeout(max(self.target.request_timeout, 60)))
                break
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                if attempt < 9 and isinstance(err, KafkaError) and err.retriable():
                    continue
                raise self.target.fail("commit transaction", exc)
        self._in_txn = False
        self.transactions += 1
        self.records += n
        self.bytes += nbytes

    def _redo_with_full_reports(self, key):
        """Another writer's record landed inside one of our runs: roll back, rewind, report every record."""
        try:
            self._producer.abort_transaction(self.target.timeout(max(self.target.request_timeout, 60)))
        except KafkaException as exc:
            raise self.target.fail("abort transaction", exc)
        self._in_txn = False
        self._full_reports = True
        self.rollbacks += 1
        self.plan.warnings.append("another producer writes to %s:%d on the target; the copier now asks for a "
                                  "delivery report per record (slower)" % (self.plan.target_topics.get(key[0], key[0]), key[1]))
        for entry in self._batch.values():
            st = entry.st
            tp = TopicPartition(st.topic, st.partition, entry.src[0])
            paused = st.done
            st.copied, st.bytes = entry.saved[1:3]
            st.next = entry.src[0]
            st.done = False
            try:
                self._consumer.seek(tp)
                if paused and not st.done:
                    self._consumer.resume([TopicPartition(st.topic, st.partition)])
            except KafkaException as exc:
                raise self.source.fail("rewind %s:%d" % (st.topic, st.partition), exc)
        self._batch = {}

    def _abort_quietly(self):
        if self._producer is not None and self._in_txn:
            try:
                self._producer.abort_transaction(5)
            except Exception:  # the next run's init_transactions aborts it anyway
                pass
            self._in_txn = False
        # What is reported is what is committed: the open batch's partitions go back to where it began.
        for entry in self._batch.values():
            st = entry.st
            st.next, st.copied, st.bytes, st.done = entry.saved
        self._batch = {}

    def _close(self):
        if self._consumer is not None:
            try:
                self._consumer.close()
            except Exception:
                pass
            self._consumer = None
        self._producer = None

    # -- reporting -------------------------------------------------------------------------------
    def result(self):
        elapsed = (self.stopped or self.clock()) - self.started
        rate = self.records / elapsed if elapsed > 0 else 0.0
        return {
            "changed": self.records > 0 or self.map_created,
            "engine": "builtin",
            "mode": self.params["mode"],
            "name": self.params["name"],
            "transactional_id": transactional_id(self.params["name"]),
            "offset_map_topic": self.map_topic,
            "offset_map_created": self.map_created,
            "topics": list(self.plan.topics),
            "records": self.records,
            "bytes": self.bytes,
            "transactions": self.transactions,
            "rollbacks": self.rollbacks,
            "lag": self.lag(),
            "duration": round(elapsed, 3),
            "rate": {"records_per_second": round(rate, 1),
                     "mb_per_second": round(self.bytes / elapsed / 1e6, 3) if elapsed > 0 else 0.0},
            "partitions": [self.plan.partitions[k].to_dict() for k in sorted(self.plan.partitions)],
            "warnings": list(self.plan.warnings),
            "status": self.status,
            "target_prefix": self.params.get("target_prefix") or "",
            "target_suffix": self.params.get("target_suffix") or "",
            "target_topics": dict(self.plan.target_topics),
            "renamed": dict(self.plan.renamed),
            "stale_progress": self.stale_progress,
            "interrupted_reason": self.interrupted,
        }

    def _write_progress(self, force=False, error=None):
        path = self.params.get("progress_file")
        if not path:
            return
        now = self.clock()
        if not force and now - self._last_progress_write < _PROGRESS_EVERY:
            return
        self._last_progress_write = now
        data = self.result()
        data["updated"] = int(time.time())
        data["started"] = int(self.wall_started)
        data["pid"] = os.getpid()
        data["process_start"] = process_start(os.getpid())
        data["host"] = socket.gethostname()
        if error:
            data["error"] = error
        write_json_atomically(path, data)


def write_json_atomically(path, data):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
    os.replace(tmp, path)


def check_mode_result(plan, params, omap):
    """What a run would copy now: per partition, the offsets between resume point and end."""
    apply_resume_points(plan, omap, params.get("offset_map_topic"))
    parts = [plan.partitions[k].to_dict() for k in sorted(plan.partitions)]
    pending = plan.pending()
    return {
        "changed": pending > 0 or not plan.map_exists,
        "engine": "builtin",
        "mode": params["mode"],
        "name": params["name"],
        "transactional_id": transactional_id(params["name"]),
        "offset_map_topic": params["offset_map_topic"],
        "offset_map_created": False,
        "topics": list(plan.topics),
        "records": pending,
        "bytes": 0,
        "transactions": 0,
        "lag": pending,
        "duration": 0.0,
        "rate": {"records_per_second": 0.0, "mb_per_second": 0.0},
        "partitions": parts,
        "partitions_to_copy": sum(1 for p in parts if p["lag"]),
        "warnings": list(plan.warnings),
        "status": "check_mode",
        "target_prefix": params.get("target_prefix") or "",
        "target_suffix": params.get("target_suffix") or "",
        "target_topics": dict(plan.target_topics),
        "renamed": dict(plan.renamed),
        "missing_target_topics": list(plan.missing_target_topics),
        "stale_progress": None,
        "interrupted_reason": None,
    }


def run_mirror(params, source, target, deadline=None, check_mode=False, distinct_checked=False):
    """Validate, then copy (or, in check mode, report what would be copied). Returns the result dict.

    The options are checked first (no cluster needed), then the two clusters are compared by
    cluster id (:func:`admin.ensure_distinct`; skipped when the caller did it: ``distinct_checked``).

    ``source`` / ``target`` are :class:`connection.Cluster` or :class:`admin.ClusterView`. Raises KafkaOpsError with the partial
    result in ``details`` when something fails after validation.
    """
    watch = ControllerWatch()  # what the controller is, as this run starts
    params = params_with_defaults(params)
    params["offset_map_topic"] = map_topic_for(target, params.get("offset_map_topic"))
    check_params(params)
    remaining = deadline.remaining() if deadline is not None else None
    if params["mode"] == "follow" and remaining is not None and float(params["duration"]) >= remaining:
        raise KafkaOpsError("duration (%ss) must be shorter than timeout (%ss): mode follow copies for duration "
                            "seconds, then commits and stops" % (params["duration"], round(remaining)))
    source, target = view_of(source), view_of(target)
    if not distinct_checked:
        ensure_distinct(source, target)
    plan = plan_copy(source, target, params, check_mode=check_mode)
    stale, warning = stale_progress(params.get("progress_file"))
    if warning:
        plan.warnings.append(warning)
    # The map's layout is checked before anything is written (the copier's init_transactions would
    # already fence an older copier of the same name).
    omap = load_map(target.cluster, params["offset_map_topic"]) if plan.map_exists else OffsetMap()
    check_layout(plan, omap, params["offset_map_topic"])
    if check_mode:
        result = check_mode_result(plan, params, omap)
        result["stale_progress"] = stale
        return result
    copier = Copier(source, target, params, plan, deadline=deadline, watch=watch)
    copier.stale_progress = stale
    return copier.run()


def diff_of(result):
    """``before``/``after`` resume points per partition (``topic:partition`` -> next source offset)."""
    before, after = {}, {}
    for p in result.get("partitions") or []:
        name = "%s:%d" % (p["topic"], p["partition"])
        before[name] = p["start"]
        after[name] = p["next"] if result.get("status") != "check_mode" else p["end"]
    return {"before": before, "after": after}


def cli_main(argv=None):
    """Run the copier outside Ansible: ``cli_main([prog, "config.json"])``.

    The JSON file holds ``source`` and ``target`` (cluster options as in the module), ``timeout`` and
    the engine options. Prints the result as JSON; exit status 0 on success, 1 on failure.
    """
    argv = sys.argv if argv is None else argv
    if len(argv) != 2:
        sys.stderr.write("usage: %s CONFIG.json\n" % argv[0])
        return 2
    with open(argv[1]) as fh:
        conf = json.load(fh)
    deadline = Deadline(conf.pop("timeout", None))
    try:
        source = Cluster(conf.pop("source"), "source", deadline)
        target = Cluster(conf.pop("target"), "target", deadline)
        check_mode = bool(conf.pop("check_mode", False))
        result = run_mirror(conf, source, target, deadline, check_mode=check_mode)
    except KafkaOpsError as exc:
        sys.stdout.write(json.dumps(dict(exc.details, failed=True, msg=exc.msg)) + "\n")
        return 1
    sys.stdout.write(json.dumps(result) + "\n")
    return 0
