# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The offset map: which target offset each copied source record landed at.

One format, one place, for both sides: ``kafka_mirror`` (engine builtin) writes it, and
``kafka_group_sync`` (policy ``translate``) reads it.

Where it lives
    A topic on the **target** cluster (default ``kafkaops.mirror.offsets``, ``cleanup.policy=delete``,
    ``retention.ms=-1``). The mirror appends one *progress record* per source partition per copied
    batch, inside the same transaction as the batch's data: a batch and its map entry are committed
    together or not at all, so the map never claims a record that is not on the target, and the last
    progress record of a partition is the exact resume point. Readers use ``read_committed``.

    The same content can be exported to / given as a JSON *checkpoint file*:
    ``{"format": 1, "partitions": [<entry>, ...]}`` where each entry has the fields below with
    ``runs`` merged over all batches.

Progress record
    key: ``"<source topic>:<partition>"`` (UTF-8; topic names cannot contain ``:``)
    value (UTF-8 JSON)::

        {"format": 1,
         "topic": "orders",          # source topic
         "target_topic": "orders",   # topic written on the target (same name unless renamed)
         "partition": 3,             # same partition number on both sides
         "runs": [[s, t, n], ...],   # n records: source offsets s..s+n-1 -> target offsets t..t+n-1
         "source_next": 1200,        # next source offset to read (resume point)
         "target_next": 1215,        # target offset after the batch's last record
         "time": 1764300000000}      # wall clock, ms

    One map holds one target layout: every progress record of a source partition names the same
    ``target_topic`` (kafka_mirror's ``target_prefix`` / ``target_suffix``); a map that names two is
    refused when read (``TranslationError``), and the mirror refuses to write a second one.

    Runs break wherever either side has a gap: source gaps come from compaction, transaction
    markers and aborted records (never copied); target gaps from the mirror's own commit markers.

Translation
    A group's committed source offset ``C`` is "the next record to process". Its target offset is
    the target offset of the first copied record with source offset ``>= C``:

    * ``C`` inside a run ``[s, t, n]``: ``t + (C - s)``;
    * ``C`` in a gap before a run: that run's ``t`` (the records in the gap were never copied:
      compacted, aborted, or markers);
    * ``C`` at or past ``source_next``: everything the group had not consumed yet was not copied;
      the answer is the target position right after the copied data (``target_next``), where data
      the producers write to the target after the switch begins;
    * ``C`` below the first mapped source offset: records the group has not processed were never
      copied; this is an error (``TranslationError``), never a silent guess.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bisect
import json
import time

FORMAT_VERSION = 1
DEFAULT_TOPIC = "kafkaops.mirror.offsets"
# The default on a target that refuses '.' in topic names (api alibaba): alibaba.map_topic_for.
ALIBABA_TOPIC = "kafkaops_mirror_offsets"
TOPIC_CONFIG = {"cleanup.policy": "delete", "retention.ms": "-1"}


class TranslationError(ValueError):
    pass


def record_key(topic, partition):
    return ("%s:%d" % (topic, partition)).encode("utf-8")


def make_runs(pairs):
    """Compress ``[(source_offset, target_offset), ...]`` (ascending) into ``[[s, t, n], ...]``."""
    runs = []
    for s, t in pairs:
        if runs:
            last = runs[-1]
            if s == last[0] + last[2] and t == last[1] + last[2]:
                last[2] += 1
                continue
        runs.append([s, t, 1])
    return runs


class PartitionMap:
    """Runs of one source partition, kept sorted by source offset."""

    def __init__(self, topic, partition, target_topic=None):
        self.topic = topic
        self.partition = partition
        self.target_topic = target_topic or topic
        self.runs = []
        self.source_next = None
        self.target_next = None

    def add(self, runs, source_next, target_next):
        for run in runs:
            s, t, n = (int(x) for x in run)
            if n <= 0:
                continue
            if self.runs and s < self.runs[-1][0] + self.runs[-1][2]:
                # A batch replayed after a crash is never committed twice (transactions), but be
                # strict: overlapping runs mean two writers, and translation would be ambiguous.
                raise TranslationError("overlapping offset-map runs for %s:%d at source offset %d"
                                       % (self.topic, self.partition, s))
            last = self.runs[-1] if self.runs else None
            if last and s == last[0] + last[2] and t == last[1] + last[2]:
                last[2] += n
            else:
                self.runs.append([s, t, n])
        if source_next is not None and (self.source_next is None or source_next > self.source_next):
            self.source_next = int(source_next)
        if target_next is not None and (self.target_next is None or target_next > self.target_next):
            self.target_next = int(target_next)

    def translate(self, source_offset):
        """Target offset for a committed source offset; see the module docstring."""
        c = int(source_offset)
        if not self.runs:
            if self.source_next is not None and c >= self.source_next:
                return self.target_next, "after_copied"
            raise TranslationError("no copied records are mapped for %s:%d" % (self.topic, self.partition))
        first = self.runs[0]
        if c < first[0]:
            raise TranslationError(
                "source offset %d of %s:%d is below the first copied offset %d: records the group has not "
                "processed were never copied" % (c, self.topic, self.partition, first[0]))
        starts = [r[0] for r in self.runs]
        i = bisect.bisect_right(starts, c) - 1
        s, t, n = self.runs[i]
        if c < s + n:
            return t + (c - s), "mapped"
        if i + 1 < len(self.runs):
            return self.runs[i + 1][1], "gap"
        return (self.target_next if self.target_next is not None else t + n), "after_copied"

    def to_dict(self):
        return {"format": FORMAT_VERSION, "topic": self.topic, "target_topic": self.target_topic,
                "partition": self.partition, "runs": [list(r) for r in self.runs],
                "source_next": self.source_next, "target_next": self.target_next}


class OffsetMap:
    """All partitions' maps, keyed by ``(source topic, partition)``."""

    def __init__(self):
        self.partitions = {}

    def partition(self, topic, partition, target_topic=None):
        key = (topic, int(partition))
        if key not in self.partitions:
            self.partitions[key] = PartitionMap(topic, int(partition), target_topic)
        return self.partitions[key]

    def add_record(self, value):
        """Fold one progress record (dict or JSON bytes/str) into the map."""
        if isinstance(value, (bytes, bytearray)):
            value = value.decode("utf-8")
        if isinstance(value, str):
            value = json.loads(value)
        if value.get("format") != FORMAT_VERSION:
            raise TranslationError("unsupported offset-map format %r" % value.get("format"))
        pm = self.partition(value["topic"], value["partition"], value.get("target_topic"))
        if value.get("target_topic") and value["target_topic"] != pm.target_topic:
            # One map, one layout: the mirror refuses to write another (kafka_mirror target_prefix).
            raise TranslationError("the offset map records source partition %s:%d copied into two target topics "
                                   "(%s and %s); one offset map holds one target layout"
                                   % (pm.topic, pm.partition, pm.target_topic, value["target_topic"]))
        pm.add(value.get("runs") or [], value.get("source_next"), value.get("target_next"))

    def translate(self, topic, partition, source_offset):
        pm = self.partitions.get((topic, int(partition)))
        if pm is None:
            raise TranslationError("the offset map has no entry for %s:%d" % (topic, int(partition)))
        return pm.translate(source_offset)

    def to_json(self):
        return json.dumps({"format": FORMAT_VERSION,
                           "partitions": [self.partitions[k].to_dict() for k in sorted(self.partitions)]},
                          indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text):
        data = json.loads(text)
        if data.get("format") != FORMAT_VERSION:
            raise TranslationError("unsupported checkpoint file format %r" % data.get("format"))
        omap = cls()
        for entry in data.get("partitions") or []:
            omap.add_record(dict(entry, format=FORMAT_VERSION))
        return omap

    @classmethod
    def from_file(cls, path):
        with open(path) as fh:
            return cls.from_json(fh.read())


def progress_record(topic, partition, pairs, source_next, target_next, target_topic=None, now_ms=None):
    """``(key, value)`` bytes of one progress record for a batch of ``(source, target)`` offset pairs."""
    value = {"format": FORMAT_VERSION, "topic": topic, "target_topic": target_topic or topic,
             "partition": int(partition), "runs": make_runs(pairs),
             "source_next": int(source_next), "target_next": int(target_next)}
    if now_ms is not None:
        value["time"] = int(now_ms)
    return record_key(topic, partition), json.dumps(value, separators=(",", ":")).encode("utf-8")


def load_from_topic(cluster, topic=DEFAULT_TOPIC, idle_timeout=2.0):
    """Read the whole map topic (``read_committed``) from a :class:`connection.Cluster`.

    Stops at each partition's end (the last stable offset); bounded by the cluster's deadline.
    """
    from confluent_kafka import KafkaError, TopicPartition  # guarded by the caller's HAS_ check

    md = cluster.admin.list_topics(topic=topic, timeout=cluster.timeout())
    tmd = md.topics.get(topic)
    if tmd is None or tmd.error is not None:
        raise TranslationError("offset map topic %r not found on the %s" % (topic, cluster))
    consumer = cluster.consumer(**{"isolation.level": "read_committed", "enable.partition.eof": True,
                                   "auto.offset.reset": "earliest"})
    omap = OffsetMap()
    try:
        parts = sorted(tmd.partitions)
        consumer.assign([TopicPartition(topic, p, -2) for p in parts])
        pending = set(parts)
        # Partitions that hold nothing never send EOF on some brokers; drop them up front.
        for p in parts:
            try:
                lo, hi = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=cluster.timeout())
            except Exception as exc:  # KafkaException: e.g. a topic this instant created, not yet led
                raise TranslationError("reading the ends of offset map topic %r on the %s: %s" % (topic, cluster, exc))
            if hi <= lo:
                pending.discard(p)
        # consume(n, t) waits for n messages or the whole t: poll in short slices instead, and give up
        # only after idle_timeout (at least the cluster's request timeout) without any message.
        last_seen = time.monotonic()
        while pending:
            msgs = consumer.consume(500, timeout=min(0.2, cluster.timeout()))
            if not msgs:
                if time.monotonic() - last_seen < max(idle_timeout, cluster.timeout()):
                    continue
                raise TranslationError("timed out reading offset map topic %r on the %s (partitions %s not at end)"
                                       % (topic, cluster, sorted(pending)))
            last_seen = time.monotonic()
            for m in msgs:
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        pending.discard(m.partition())
                        continue
                    raise TranslationError("reading offset map topic %r: %s" % (topic, m.error().str()))
                omap.add_record(m.value())
    finally:
        consumer.close()
    return omap
