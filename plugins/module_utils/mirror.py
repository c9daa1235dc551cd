# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The built-in copy engine of ``kafka_mirror``: exact, resumable, exactly-once topic copy.

Plain Python (no AnsibleModule here). How one record travels:

1. The source is read with ``isolation.level=read_committed`` (aborted records and transaction
   markers are never seen) by one consumer assigned to every selected partition; the source is never
   written to (no group, no committed offsets).
2. Each record is produced to the **same partition** of the same-named target topic with its key,
   value, headers and timestamp (null keys, null values and tombstones included).
3. Records are grouped in transactions of a stable ``transactional.id`` (``kafkaops-mirror-<name>``).
   Per batch: ``begin_transaction``; produce the records; ``flush`` (the delivery reports give each
   record's target offset); produce one progress record per partition touched to the offset-map topic
   (format and helpers in ``offsetmap.py``); ``commit_transaction``. Data and progress are committed
   together or not at all.
4. On start, ``init_transactions`` fences any older copier of the same name and aborts its open
   transaction; only then is the map read (``read_committed``), and each partition resumes at the
   ``source_next`` of its last progress record. A crash at any point therefore resumes with no gap
   and no duplicate.

Memory is bounded whatever the data volume: the consumer's prefetch queue, the producer's queue and
the batch size are capped, and a batch's records are handed to the producer as they arrive.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import sys
import time

from ansible_collections.kafkaops.migration.plugins.module_utils.connection import (
    HAS_CONFLUENT_KAFKA,
    Cluster,
    KafkaOpsError,
)
from ansible_collections.kafkaops.migration.plugins.module_utils.offsetmap import (
    DEFAULT_TOPIC,
    TOPIC_CONFIG,
    OffsetMap,
    TranslationError,
    load_from_topic,
    progress_record,
)
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline

if HAS_CONFLUENT_KAFKA:
    from confluent_kafka import (
        TIMESTAMP_NOT_AVAILABLE,
        IsolationLevel,
        KafkaError,
        KafkaException,
        TopicPartition,
    )
    from confluent_kafka.admin import ConfigResource, NewTopic, OffsetSpec

MODES = ("snapshot", "until_lag", "follow")

# Ansible argument spec of the built-in engine's options (documented in plugins/modules/kafka_mirror.py).
MIRROR_OPTION_SPEC = dict(
    name=dict(type="str", default="default"),
    topics=dict(type="list", elements="str", default=[]),
    topic_patterns=dict(type="list", elements="str", default=[]),
    exclude_patterns=dict(type="list", elements="str", default=[]),
    mode=dict(type="str", default="snapshot", choices=list(MODES)),
    max_lag=dict(type="int", default=0),
    duration=dict(type="float", default=60.0),
    interval=dict(type="float", default=5.0),
    offset_map_topic=dict(type="str", default=DEFAULT_TOPIC),
    progress_file=dict(type="path"),
    batch_records=dict(type="int", default=500000),
    batch_bytes=dict(type="int", default=64 * 1024 * 1024),
    batch_seconds=dict(type="float", default=5.0),
)

_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
_INTERNAL_PREFIX = "__"
_PROGRESS_EVERY = 1.0  # seconds between two progress-file writes


def transactional_id(name):
    return "kafkaops-mirror-%s" % name


def params_with_defaults(params):
    """The engine options with defaults filled in (for callers that do not go through AnsibleModule)."""
    out = dict((k, v.get("default")) for k, v in MIRROR_OPTION_SPEC.items())
    out.update(dict((k, v) for k, v in (params or {}).items() if v is not None or k not in out))
    return out


def check_params(params):
    """Validate the options that need no cluster; raise KafkaOpsError."""
    if not _NAME_RE.match(params.get("name") or ""):
        raise KafkaOpsError("name must be 1-200 characters of letters, digits, '.', '_' or '-', got %r" % params.get("name"))
    if params["mode"] not in MODES:
        raise KafkaOpsError("mode must be one of %s" % ", ".join(MODES))
    if not params.get("topics") and not params.get("topic_patterns"):
        raise KafkaOpsError("give topics and/or topic_patterns: nothing is selected")
    for key in ("topic_patterns", "exclude_patterns"):
        for pat in params.get(key) or []:
            try:
                re.compile(pat)
            except re.error as exc:
                raise KafkaOpsError("%s: %r is not a valid regular expression: %s" % (key, pat, exc))
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
    if not params.get("offset_map_topic"):
        raise KafkaOpsError("offset_map_topic must not be empty")


def select_topics(available, topics, patterns, excludes=(), map_topic=None):
    """Names to copy: the listed ``topics`` plus those fully matching a pattern, minus exclusions.

    Internal topics (``__*``) and the offset-map topic are only taken when listed by name. Returns
    ``(selected, missing)`` where ``missing`` are listed names absent from ``available``.
    """
    available = set(available)
    selected = set()
    missing = []
    for name in topics or []:
        if name in available:
            selected.add(name)
        else:
            missing.append(name)
    compiled = [re.compile(p) for p in patterns or []]
    for name in available:
        if name.startswith(_INTERNAL_PREFIX) or name == map_topic:
            continue
        if any(c.fullmatch(name) for c in compiled):
            selected.add(name)
    drop = [re.compile(p) for p in excludes or []]
    selected = set(n for n in selected if not any(d.fullmatch(n) for d in drop))
    return sorted(selected), sorted(set(missing))


class PartitionState:
    """Where one partition stands: resume point, end of the snapshot, what this run copied."""

    __slots__ = ("topic", "partition", "start", "end", "low", "next", "copied", "bytes", "done", "resumed")

    def __init__(self, topic, partition):
        self.topic = topic
        self.partition = partition
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
        return {"topic": self.topic, "partition": self.partition, "start": self.start, "next": self.next,
                "end": self.end, "copied": self.copied, "bytes": self.bytes, "lag": self.lag(),
                "resumed": self.resumed}


def _list_offsets(cluster, keys, spec, what):
    """One batched ListOffsets call (read_committed) for ``[(topic, partition), ...]``."""
    if not keys:
        return {}
    request = dict((TopicPartition(t, p), spec) for t, p in keys)
    try:
        futures = cluster.admin.list_offsets(request, isolation_level=IsolationLevel.READ_COMMITTED,
                                             **cluster.request_kwargs())
    except Exception as exc:
        raise cluster.fail(what, exc)
    ok, errors = cluster.results(futures, what)
    if errors:
        first = sorted(errors.items(), key=lambda kv: (kv[0].topic, kv[0].partition))[:5]
        raise KafkaOpsError("%s: %s failed for %s" % (cluster, what, ", ".join(
            "%s:%d (%s)" % (tp.topic, tp.partition, err) for tp, err in first)))
    return dict(((tp.topic, tp.partition), info.offset) for tp, info in ok.items())


def _describe_topic_configs(cluster, names, keys=("cleanup.policy", "message.timestamp.type")):
    if not names:
        return {}
    resources = [ConfigResource("topic", n) for n in names]
    try:
        futures = cluster.admin.describe_configs(resources, **cluster.request_kwargs())
    except Exception as exc:
        raise cluster.fail("describe topic configs", exc)
    ok, errors = cluster.results(futures, "describe topic configs")
    if errors:
        raise KafkaOpsError("%s: describe topic configs failed: %s" % (cluster, "; ".join(
            "%s: %s" % (r.name, e) for r, e in errors.items())))
    out = {}
    for res, entries in ok.items():
        out[res.name] = dict((k, entries[k].value) for k in keys if k in entries)
    return out


def _topic_partitions(cluster, names=None, expect=None, attempts=10):
    """``{topic: partition count}`` from one metadata request (all topics when ``names`` is None).

    Brokers learn about new topics asynchronously; when ``expect`` (``{name: minimum partitions}``)
    is not met, the request is repeated (up to ``attempts`` times, half a second apart) before the
    answer stands.
    """
    for attempt in range(attempts):
        found, brokers = _topic_partitions_once(cluster, names)
        if not expect or attempt == attempts - 1 or all(found.get(n, 0) >= c for n, c in expect.items()):
            return found, brokers
        time.sleep(min(0.5, max(cluster.timeout(0.5), 0.01)))
    return found, brokers


def _topic_partitions_once(cluster, names=None):
    try:
        md = cluster.admin.list_topics(timeout=cluster.timeout())
    except Exception as exc:
        raise cluster.fail("list topics", exc)
    out = {}
    for name, tmd in md.topics.items():
        if tmd.error is not None:
            continue
        if names is None or name in names:
            out[name] = len(tmd.partitions)
    return out, len(md.brokers)


class Plan:
    """What a run would copy, validated before anything is changed."""

    def __init__(self):
        self.topics = []
        self.partitions = {}      # (topic, partition) -> PartitionState
        self.warnings = []
        self.map_exists = False
        self.target_brokers = 0
        self.source_configs = {}
        self.target_configs = {}

    def pending(self):
        return sum(p.lag() or 0 for p in self.partitions.values())


def plan_copy(source, target, params):
    """Validate the selection against both clusters; return a :class:`Plan` (no change anywhere)."""
    check_params(params)
    map_topic = params["offset_map_topic"]
    src_topics = _topic_partitions(source, expect=dict((t, 1) for t in params.get("topics") or []))[0]
    selected, missing = select_topics(src_topics, params.get("topics"), params.get("topic_patterns"),
                                      params.get("exclude_patterns"), map_topic)
    if missing:
        raise KafkaOpsError("topics not found on the %s: %s" % (source, ", ".join(missing)), missing_topics=missing)
    if not selected:
        raise KafkaOpsError("no topic on the %s matches topics/topic_patterns" % source)
    if map_topic in selected:
        raise KafkaOpsError("the offset map topic %r cannot be copied" % map_topic)
    tgt_topics, tgt_brokers = _topic_partitions(target, expect=dict((t, src_topics[t]) for t in selected))
    problems = []
    for name in selected:
        if name not in tgt_topics:
            problems.append("%s is missing on the target (create it first, e.g. with kafkaops.migration.kafka_topic_sync)" % name)
        elif tgt_topics[name] < src_topics[name]:
            problems.append("%s has %d partitions on the target, fewer than the %d on the source"
                            % (name, tgt_topics[name], src_topics[name]))
    if problems:
        raise KafkaOpsError("target topics are not ready: %s" % "; ".join(problems), problems=problems)
    plan = Plan()
    plan.topics = selected
    plan.target_brokers = tgt_brokers
    plan.map_exists = map_topic in tgt_topics
    plan.source_configs = _describe_topic_configs(source, selected)
    plan.target_configs = _describe_topic_configs(target, selected)
    for name in selected:
        src, tgt = plan.source_configs.get(name, {}), plan.target_configs.get(name, {})
        if tgt.get("message.timestamp.type") == "LogAppendTime":
            plan.warnings.append("target topic %s uses LogAppendTime: the broker overwrites the copied timestamps" % name)
        if src.get("message.timestamp.type") == "LogAppendTime":
            plan.warnings.append("source topic %s uses LogAppendTime: its timestamps are copied as CreateTime values" % name)
        if "compact" in (tgt.get("cleanup.policy") or "") and "compact" not in (src.get("cleanup.policy") or ""):
            plan.warnings.append("target topic %s is compacted but the source is not: records without a key will be rejected" % name)
    for name in selected:
        for p in range(src_topics[name]):
            plan.partitions[(name, p)] = PartitionState(name, p)
    keys = sorted(plan.partitions)
    lows = _list_offsets(source, keys, OffsetSpec.earliest(), "list earliest offsets")
    ends = _list_offsets(source, keys, OffsetSpec.latest(), "list end offsets")
    for key, st in plan.partitions.items():
        st.low = lows[key]
        st.end = ends[key]
    return plan


def apply_resume_points(plan, omap):
    """Set each partition's start from the offset map (``None``: never copied, start at the beginning)."""
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


def ensure_map_topic(target, topic, brokers):
    """Create the offset-map topic on the target; True if this call created it."""
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
    # Metadata propagates asynchronously; wait until the topic is visible before producing to it.
    deadline = Deadline(target.timeout())
    while not deadline.expired:
        found = _topic_partitions(target, [topic])[0]
        if topic in found:
            break
        time.sleep(0.2)
    return True


def load_map(target, topic, attempts=10):
    """The offset map read from ``topic`` (``read_committed``); retried while a new topic's metadata spreads."""
    for attempt in range(attempts):
        try:
            return load_from_topic(target, topic)
        except TranslationError as exc:
            raise KafkaOpsError("%s: reading the offset map failed: %s" % (target, exc))
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            unknown = isinstance(err, KafkaError) and err.code() in (KafkaError._UNKNOWN_PARTITION,
                                                                     KafkaError._UNKNOWN_TOPIC,
                                                                     KafkaError.UNKNOWN_TOPIC_OR_PART)
            if not unknown or attempt == attempts - 1:
                raise target.fail("reading the offset map topic %s" % topic, exc)
            time.sleep(min(0.2 * (attempt + 1), max(target.timeout(1.0), 0.01)))


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

    def __init__(self, source, target, params, plan, deadline=None, clock=time.monotonic):
        self.source = source
        self.target = target
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
        apply_resume_points(self.plan, omap)
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
            self._one_batch()

    def _check_deadline(self):
        remaining = self.deadline.remaining()
        if remaining is not None and remaining <= 0:
            raise KafkaOpsError("the module timeout ran out after copying %d records (%s); run again to resume"
                                % (self.records, self.params["mode"]), timed_out=True)

    def _lag_reached(self):
        keys = sorted(self.plan.partitions)
        ends = _list_offsets(self.source, keys, OffsetSpec.latest(), "list end offsets")
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
                topic, part = key
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
                        raise self.target.fail("writing record %s:%d@%d" % (topic, part, m.offset()), exc)
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
        key = (msg.topic(), msg.partition())
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
            k, v = progress_record(key[0], key[1], list(zip(src, tgt)), src[-1] + 1, tgt[-1] + 1, now_ms=now_ms)
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
                                  "delivery report per record (slower)" % key)
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
    apply_resume_points(plan, omap)
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
    }


def run_mirror(params, source, target, deadline=None, check_mode=False):
    """Validate, then copy (or, in check mode, report what would be copied). Returns the result dict.

    ``source`` / ``target`` are :class:`connection.Cluster`. Raises KafkaOpsError with the partial
    result in ``details`` when something fails after validation.
    """
    params = params_with_defaults(params)
    remaining = deadline.remaining() if deadline is not None else None
    if params["mode"] == "follow" and remaining is not None and float(params["duration"]) >= remaining:
        raise KafkaOpsError("duration (%ss) must be shorter than timeout (%ss): mode follow copies for duration "
                            "seconds, then commits and stops" % (params["duration"], round(remaining)))
    plan = plan_copy(source, target, params)
    if check_mode:
        omap = load_map(target, params["offset_map_topic"]) if plan.map_exists else OffsetMap()
        return check_mode_result(plan, params, omap)
    return Copier(source, target, params, plan, deadline=deadline).run()


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
