# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Procedure step 3: copy topic metadata (partitions, replication factor, configs) to the target.

Plain Python, no AnsibleModule. The work is split in three parts so the decisions can be tested
without Kafka:

* :func:`read_clusters` reads both clusters through the admin layer (:mod:`admin`: one metadata
  request each, then the config descriptions of both clusters in flight together, batched, spread
  over a few connections and retried by the one retry policy);
* :func:`plan` turns those two descriptions and the :class:`SyncOptions` into a :class:`Plan`
  (what to create, expand and alter, what drifted, what is skipped, what is invalid) - pure Python;
* :func:`apply` runs the plan in batches (``create_topics``, ``create_partitions``,
  ``incremental_alter_configs``), with ``validate_only`` in check mode, and collects every per-topic
  outcome so a partial failure never hides the topics that did succeed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import re
import sys
import threading

from ansible_collections.kafkaops.migration.plugins.module_utils import admin, alibaba, alitopics
from ansible_collections.kafkaops.migration.plugins.module_utils.alibaba import TopicNames
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import KafkaOpsError
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline, poll

try:
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions, NewTopic
except ImportError:  # connection.Cluster reports the missing library; planning works without it
    pass

# Topic configs never copied unless the user replaces this list (O(deny_configs)). Shell-style
# patterns (fnmatch). Each line says why.
DEFAULT_DENY_CONFIGS = [
    # Removed in Apache Kafka 4.0: message formats v0/v1 are gone (KIP-724) and the timestamp
    # bound was split into message.timestamp.before/after.max.ms (KIP-937). A 4.x broker rejects them.
    "message.format.version",
    "message.downconversion.enable",
    "message.timestamp.difference.max.ms",
    # Throttled-replica lists name the source's broker ids and in-flight reassignments.
    "leader.replication.throttled.replicas",
    "follower.replication.throttled.replicas",
    # Vendor keys (Confluent Server placement, tiering, schema validation ...).
    "confluent.*",
    # Tiered storage is a property of the target cluster, enabled there or not at all.
    "remote.storage.enable",
    "remote.log.*",
    "local.retention.ms",
    "local.retention.bytes",
    # Broker I/O tuning that managed services (Confluent Cloud, MSK Serverless, Alibaba Cloud) refuse
    # or manage themselves.
    "flush.messages",
    "flush.ms",
    "file.delete.delay.ms",
    "index.interval.bytes",
    "segment.index.bytes",
    "preallocate",
]

RF_MODES = ("keep", "auto")
MIN_ISR = "min.insync.replicas"
CONFIG_SOURCES = ("topic", "broker")
DEFAULT_BATCH_SIZE = 500
MUTATION_TIMEOUT = 60.0
# A KRaft controller (QuorumController) refuses a user operation of more than 10,000 records or
# partitions ("Excessively large number of partitions per request"): stay well below.
MAX_RECORDS_PER_REQUEST = 8000


# A Kafka topic name: at most 249 characters of ASCII letters, digits, ".", "_" and "-", and neither
# "." nor ".." (Kafka's org.apache.kafka.common.internals.Topic.validate).
TOPIC_NAME_MAX = 249
_TOPIC_NAME_CHARS = re.compile(r"[a-zA-Z0-9._-]*")


def topic_name_problem(name):
    """Why ``name`` is not a legal Kafka topic name, or None when it is."""
    if not name:
        return "the name is empty"
    if name in (".", ".."):
        return "the name cannot be %r" % name
    if len(name) > TOPIC_NAME_MAX:
        return "%d characters, Kafka allows %d" % (len(name), TOPIC_NAME_MAX)
    if not _TOPIC_NAME_CHARS.fullmatch(name):
        bad = sorted(set(c for c in name if not _TOPIC_NAME_CHARS.fullmatch(c)))
        return "characters %s are not allowed (only ASCII letters, digits, '.', '_' and '-')" % ", ".join(repr(c) for c in bad)
    return None


def denied(key, deny):
    """The deny-list pattern matching config ``key``, or None."""
    for pattern in deny:
        if fnmatch.fnmatchcase(key, pattern):
            return pattern
    return None


class SyncOptions:
    """The module's options, validated (bad regex, forced deny-listed config, bad RF) on creation."""

    def __init__(self, include=None, exclude=None, replication_factor="auto", deny_configs=None,
                 extra_deny_configs=None, config_overrides=None, config_sources=None, align_configs=False,
                 remove_extra_configs=False, min_insync_replicas="clamp", batch_size=DEFAULT_BATCH_SIZE,
                 target_prefix="", target_suffix="", rename=None, rename_rule="underscore"):
        # the one selection rule (admin.Selection): whole-name regexes, internal topics never
        self.selection = admin.Selection(include, exclude)
        self.target_prefix, self.target_suffix = target_prefix or "", target_suffix or ""
        for option, value in (("target_prefix", self.target_prefix), ("target_suffix", self.target_suffix)):
            if not isinstance(value, str) or not _TOPIC_NAME_CHARS.fullmatch(value):
                raise KafkaOpsError(
                    "%s: %r would make illegal Kafka topic names: only ASCII letters, digits, '.', '_' and '-' are allowed"
                    % (option, value))
        try:
            # the one naming rule of every step (alibaba.TopicNames): rename map, default rule, prefix/suffix;
            # sync() sets its name_rule when the target refuses some Kafka names (api: alibaba)
            self.names = TopicNames(alibaba.validate_rename(rename), rename_rule, None, self.target_prefix, self.target_suffix)
        except ValueError as exc:
            raise KafkaOpsError(str(exc))
        self.replication_factor = parse_replication_factor(replication_factor)
        self.deny = list(DEFAULT_DENY_CONFIGS if deny_configs is None else deny_configs) + list(extra_deny_configs or [])
        self.config_overrides = dict((str(k), _config_value(v)) for k, v in (config_overrides or {}).items())
        forced = dict((k, denied(k, self.deny)) for k in self.config_overrides)
        forced = dict((k, p) for k, p in forced.items() if p)
        if forced:
            raise KafkaOpsError(
                "config_overrides sets deny-listed configs: %s; remove them from config_overrides or from the deny-list"
                % ", ".join("%s (matches %r)" % (k, p) for k, p in sorted(forced.items())), denied=forced)
        if MIN_ISR in self.config_overrides:
            try:
                if int(self.config_overrides[MIN_ISR]) < 1:
                    raise ValueError()
            except ValueError:
                raise KafkaOpsError("config_overrides: min.insync.replicas must be a positive integer, got %r"
                                    % self.config_overrides[MIN_ISR])
        self.config_sources = list(config_sources or ["topic"])
        bad = [s for s in self.config_sources if s not in CONFIG_SOURCES]
        if bad:
            raise KafkaOpsError("config_sources must be among %s, got %s" % (", ".join(CONFIG_SOURCES), ", ".join(bad)))
        self.align_configs = bool(align_configs)
        self.remove_extra_configs = bool(remove_extra_configs)
        if min_insync_replicas not in ("clamp", "fail"):
            raise KafkaOpsError("min_insync_replicas must be clamp or fail, got %r" % (min_insync_replicas,))
        self.min_insync_replicas = min_insync_replicas
        try:
            self.batch_size = int(batch_size)
        except (TypeError, ValueError):
            self.batch_size = 0
        if self.batch_size < 1:
            raise KafkaOpsError("batch_size must be a positive integer, got %r" % (batch_size,))

    def target_name(self, name):
        """The target topic of source topic ``name`` (admin.target_topic_name)."""
        return self.names.target(name)

    def selected(self, name):
        """``(True, None)`` when topic ``name`` is to be copied, else ``(matched_include, reason)``:
        ``(False, None)`` when no include pattern matches it, ``(True, reason)`` when it is internal
        or excluded."""
        matched, reason = self.selection.why_not(name)
        return (matched, reason if matched else None)

    def unmatched_includes(self, names):
        """The include patterns the user gave that match none of ``names``."""
        return self.selection.unmatched_includes(names)


def _config_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_replication_factor(value):
    """``keep``, ``auto`` or a positive integer (given as int or digits)."""
    if isinstance(value, bool):
        raise KafkaOpsError("replication_factor must be keep, auto or a positive integer, got %r" % (value,))
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip().lower()
        if text in RF_MODES:
            return text
        if not text.isdigit():
            raise KafkaOpsError("replication_factor must be keep, auto or a positive integer, got %r" % (value,))
        number = int(text)
    if number < 1:
        raise KafkaOpsError("replication_factor must be keep, auto or a positive integer, got %r" % (value,))
    return number


def target_replication_factor(mode, source_rf, target_brokers):
    """The replication factor a new target topic gets: ``keep``, ``auto`` or the fixed number."""
    if mode == "keep":
        return source_rf
    if mode == "auto":
        return max(1, min(source_rf, target_brokers))
    return mode


class Plan:
    """What a sync would do. Keyed by target topic name, except ``skipped`` and ``errors`` (source
    topic names); ``topic_map`` gives the target topic of each selected source topic."""

    def __init__(self):
        self.create = {}       # topic -> {partitions, replication_factor, configs}
        self.expand = {}       # topic -> {"before": n, "after": m}
        self.alter = {}        # topic -> {key: {"before": v, "after": v or None (delete)}}
        self.drift = {}        # topic -> {"configs": {key: {source, target}}, "partitions": ..., "replication_factor": ...}
        self.skipped = {}      # topic -> reason
        self.adjusted = {}     # topic -> {key: {"source": v, "target": v, "reason": text}}
        self.not_copied = {}   # topic -> {key: deny pattern}
        self.errors = {}       # topic -> validation error (nothing may change while any exists)
        self.unchanged = []    # topics already in sync
        self.ignored = 0       # source topics not matched by the include patterns
        self.topic_map = {}    # selected source topic -> its target topic

    @property
    def changes(self):
        return bool(self.create or self.expand or self.alter)

    def diff(self, target):
        """Ansible ``--diff``: per topic, the state before and after, only what changes."""
        before, after = {}, {}
        renamed = dict((t, s) for s, t in self.topic_map.items() if s != t)
        for topic, spec in self.create.items():
            before[topic] = {"state": "absent"}
            after[topic] = dict((k, v) for k, v in spec.items() if k != "configs")
            after[topic].update(state="present", configs=dict(spec.get("configs") or {}))
            if topic in renamed:
                after[topic]["source_topic"] = renamed[topic]
        for topic in set(self.expand) | set(self.alter):
            b, a = before.setdefault(topic, {"state": "present"}), after.setdefault(topic, {"state": "present"})
            if topic in self.expand:
                b["partitions"], a["partitions"] = self.expand[topic]["before"], self.expand[topic]["after"]
            if topic in self.alter:
                b["configs"] = dict((k, c["before"]) for k, c in self.alter[topic].items())
                a["configs"] = dict((k, c["after"]) for k, c in self.alter[topic].items())
        return {"before": _sorted(before), "after": _sorted(after)}


def _sorted(d):
    return dict((k, d[k]) for k in sorted(d))


def desired_configs(topic, source_configs, options, rf, plan, source_topic=None):
    """The configs target topic ``topic`` with replication factor ``rf`` should carry; records what was
    left out (deny-list) and adjusted (min.insync.replicas) in ``plan``, a validation error under
    ``source_topic`` (default: ``topic``)."""
    configs = {}
    for key, value in sorted(source_configs.items()):
        pattern = denied(key, options.deny)
        if pattern:
            plan.not_copied.setdefault(topic, {})[key] = pattern
            continue
        configs[key] = value
    configs.update(options.config_overrides)
    if MIN_ISR in configs and int(configs[MIN_ISR]) > rf:
        if options.min_insync_replicas == "fail":
            plan.errors[source_topic or topic] = (
                "min.insync.replicas %s exceeds the target replication factor %d (min_insync_replicas=fail)"
                % (configs[MIN_ISR], rf))
        else:
            plan.adjusted.setdefault(topic, {})[MIN_ISR] = {
                "source": configs[MIN_ISR], "target": str(rf),
                "reason": "clamped to the target replication factor %d" % rf}
            configs[MIN_ISR] = str(rf)
    return configs


def target_name_problems(source_names, selected, options):
    """``{source topic: why its target name is refused}`` for the selected topics.

    A target name (``target_prefix`` + name + ``target_suffix``) must be a legal Kafka topic name, must
    not be internal (every step would then ignore it), and, when it differs from the source name,
    must not be the name of another source topic: that topic's namesake on the target is where a
    same-name sync (the live topics of the drain procedure) puts it, so the two would mix.
    """
    problems = dict(options.names.problems(selected, source_names)) if options.names.rename else {}
    names = set(source_names)
    for topic in selected:
        if topic in problems:
            continue
        tname = options.target_name(topic)
        why = topic_name_problem(tname)
        if why:
            problems[topic] = "target topic name %r is not a legal Kafka topic name: %s" % (tname, why)
        elif tname != topic and admin.is_internal(tname):
            problems[topic] = ("target topic name %r is the name of an internal topic (%s)"
                               % (tname, admin.internal_kind(tname)))
        elif tname != topic and tname in names:
            problems[topic] = ("target topic name %r collides with the source topic %r of the same name "
                               "(its own target topic); choose another target_prefix/target_suffix" % (tname, tname))
    return problems


def readable_topics(source, options, p):
    """The selected source topics that could be read, sorted; the others are counted in ``p.ignored``
    (not selected) or listed in ``p.skipped`` with the reason (internal, unreadable)."""
    readable = []
    for topic in sorted(source):
        matched, reason = options.selected(topic)
        if not matched:
            p.ignored += 1
            continue
        if reason:
            p.skipped[topic] = reason
            continue
        if source[topic].get("error"):
            p.skipped[topic] = source[topic]["error"]
            continue
        readable.append(topic)
    return readable


def plan(source, target, target_brokers, options):
    """Plan the sync from two descriptions (see :func:`read_clusters`).

    ``source``: ``{topic: {"partitions": n, "replication_factor": r, "configs": {key: value}}}``,
    ``configs`` being what may be copied (topic overrides, plus broker-level values when asked).
    ``target``: ``{target topic: {"partitions": n, "replication_factor": r, "configs": {key: effective
    value}, "overrides": {key: value}}}`` for the target topics of the selected ones that exist there,
    keyed by target name (``options.target_name(topic)``).

    The plan's create / expand / alter / drift / adjusted / not_copied / unchanged are keyed by the
    target topic name; skipped and errors by the source topic name; ``topic_map`` links the two.
    """
    p = Plan()
    readable = readable_topics(source, options, p)
    p.errors.update(target_name_problems(source, readable, options))
    for topic in readable:
        src = source[topic]
        tname = options.target_name(topic)
        p.topic_map[topic] = tname
        if topic in p.errors:
            continue
        named = "" if tname == topic else " (target topic %s)" % tname
        tgt = target.get(tname)
        if tgt is None:
            rf = target_replication_factor(options.replication_factor, src["replication_factor"], target_brokers)
            if rf > target_brokers:
                p.errors[topic] = ("replication factor %d (replication_factor=%s) exceeds the %d brokers of the target%s"
                                   % (rf, options.replication_factor, target_brokers, named))
                continue
            configs = desired_configs(tname, src["configs"], options, rf, p, source_topic=topic)
            if topic in p.errors:
                continue
            p.create[tname] = {"partitions": src["partitions"], "replication_factor": rf, "configs": configs}
            continue
        if tgt.get("error"):
            p.skipped[topic] = tgt["error"] + named
            continue
        source_topic, topic = topic, tname  # from here on: the target topic
        drift = {}
        if src["partitions"] > tgt["partitions"]:
            p.expand[topic] = {"before": tgt["partitions"], "after": src["partitions"]}
        elif src["partitions"] < tgt["partitions"]:
            drift["partitions"] = {"source": src["partitions"], "target": tgt["partitions"],
                                   "note": "the target has more partitions; never reduced, keys may map to other partitions"}
        want_rf = target_replication_factor(options.replication_factor, src["replication_factor"], target_brokers)
        if want_rf != tgt["replication_factor"]:
            drift["replication_factor"] = {"source": src["replication_factor"], "target": tgt["replication_factor"],
                                           "expected": want_rf, "note": "not changed: needs a partition reassignment"}
        configs = desired_configs(topic, src["configs"], options, tgt["replication_factor"], p, source_topic=source_topic)
        config_drift, changes = {}, {}
        for key, value in sorted(configs.items()):
            current = tgt["configs"].get(key)
            if current != value:
                config_drift[key] = {"source": value, "target": current}
                changes[key] = {"before": current, "after": value}
        for key, value in sorted(tgt.get("overrides", {}).items()):
            if key in configs or denied(key, options.deny):
                continue
            config_drift[key] = {"source": None, "target": value}
            if options.remove_extra_configs:
                changes[key] = {"before": value, "after": None}
        if config_drift:
            drift["configs"] = config_drift
        if drift:
            p.drift[topic] = drift
        if changes and options.align_configs:
            p.alter[topic] = changes
        if topic not in p.expand and topic not in p.alter and not drift:
            p.unchanged.append(topic)
    return p


# -- reading the clusters ------------------------------------------------------------------------

def _chunks_weighted(items, size, weight, budget):
    """Chunks of at most ``size`` items whose summed ``weight`` stays within ``budget`` (one heavy
    item still gets a chunk of its own)."""
    chunk, total = [], 0
    for item in items:
        w = weight(item)
        if chunk and (len(chunk) >= size or total + w > budget):
            yield chunk
            chunk, total = [], 0
        chunk.append(item)
        total += w
    if chunk:
        yield chunk


def list_topics(cluster):
    """``{topic: {"partitions": n, "replication_factor": r}}`` of every topic (:func:`admin.topic_metadata`:
    one Metadata call); a topic whose metadata has an error and no partition carries ``error`` instead."""
    out = {}
    for name, m in admin.topic_metadata(admin.view_of(cluster)).items():
        if m["error"] is not None and not m["partitions"]:
            out[name] = {"partitions": 0, "replication_factor": 0, "error": "metadata error: %s" % m["error"]}
            continue
        out[name] = {"partitions": m["partitions"], "replication_factor": m["replication_factor"]}
    return out


# Where a copied config value may come from (O(config_sources)), as Kafka's ConfigSource names.
TOPIC_LEVEL = "DYNAMIC_TOPIC_CONFIG"
_SOURCES = {
    "topic": (TOPIC_LEVEL,),
    "broker": ("DYNAMIC_BROKER_CONFIG", "DYNAMIC_DEFAULT_BROKER_CONFIG", "STATIC_BROKER_CONFIG"),
}


def _wanted_sources(config_sources):
    names = set()
    for s in config_sources:
        names.update(_SOURCES[s])
    return names


def _at_once(reads):
    """Run ``{side: callable}`` at once, one thread each (both clusters' reads in flight together).

    Returns ``{side: (result, seconds until it was done)}``; an exception of a read is raised here.
    """
    clock = Deadline(None)
    done = {}

    def run(side, read):
        try:
            done[side] = (read(), None, round(clock.elapsed(), 3))
        except BaseException as exc:  # re-raised in the caller's thread
            done[side] = (None, exc, round(clock.elapsed(), 3))

    threads = [threading.Thread(target=run, args=(side, read)) for side, read in sorted(reads.items())]
    for t in threads:
        t.daemon = True
        t.start()
    for t in threads:
        t.join()
    for side in sorted(done):
        if done[side][1] is not None:
            raise done[side][1]
    return dict((side, (res, seconds)) for side, (res, _exc, seconds) in done.items())


def read_clusters(source, target, options, timeout=None, timings=None):
    """Describe the selected source topics and their target topics (``options.target_name``).

    Through the admin layer: one Metadata call per cluster (:func:`admin.topic_metadata`), then the
    config descriptions of both clusters at once (:func:`admin.topic_config_entries`: batches of
    ``options.batch_size`` topics over up to :data:`admin.CONFIG_CONNECTIONS` connections, retried by
    the one retry policy; each bounded by its cluster's ``request_timeout`` per queued batch, so
    ``timeout`` is no longer used here). ``source`` / ``target``: :class:`connection.Cluster` or
    :class:`admin.ClusterView`.

    Returns ``(source_topics, target_topics)`` in the shapes :func:`plan` takes; the source dict holds
    every source topic (unselected ones without configs), the target dict, keyed by target name, only
    the target topics of the selected ones that exist. A topic whose configs cannot be read carries
    ``error`` (it is skipped, with that reason, and the others go on).
    """
    src_view = admin.view_of(source)
    tgt_view = admin.view_of(target) if target is not None else None  # None: the source alone (api: alibaba)
    src = list_topics(src_view)
    tgt_meta = list_topics(tgt_view) if tgt_view is not None else {}
    chosen = [t for t in src if options.selected(t) == (True, None) and not src[t].get("error")]
    names = [options.target_name(t) for t in chosen]
    tgt = dict((t, tgt_meta[t]) for t in names if t in tgt_meta)
    on_target = [t for t in tgt if not tgt[t].get("error")]
    batch = options.batch_size
    read = _at_once({
        "source": lambda: admin.topic_config_entries(src_view, chosen, batch),
        "target": lambda: admin.topic_config_entries(tgt_view, on_target, batch) if on_target else ({}, {}),
    })
    (src_entries, src_errors), src_done = read["source"]
    (tgt_entries, tgt_errors), tgt_done = read["target"]
    if timings is not None:
        timings["source_configs"] = src_done
        timings["target_configs"] = tgt_done

    wanted = _wanted_sources(options.config_sources)
    for topic in chosen:
        if topic in src_errors:
            src[topic]["error"] = "cannot read its configs on the source: %s" % src_errors[topic]
            continue
        src[topic]["configs"] = dict(
            (k, e["value"]) for k, e in src_entries[topic].items()
            if e["source"] in wanted and e["value"] is not None and not e["sensitive"] and not e["read_only"])
    for desc in src.values():
        desc.setdefault("configs", {})

    for topic in on_target:
        if topic in tgt_errors:
            tgt[topic]["error"] = "cannot read its configs on the target: %s" % tgt_errors[topic]
            continue
        entries = tgt_entries[topic]
        tgt[topic]["configs"] = dict((k, e["value"]) for k, e in entries.items())
        tgt[topic]["overrides"] = dict((k, e["value"]) for k, e in entries.items() if e["source"] == TOPIC_LEVEL)
    return src, tgt


# -- applying the plan ---------------------------------------------------------------------------

def _batched(cluster, what, items, batch_size, submit, timeout, weight=None):
    """Submit ``items`` in chunks with ``submit(chunk) -> {topic: future}``; collect all outcomes.

    ``weight(item)`` counts the metadata records an item makes; a KRaft controller refuses a request
    of more than 10,000 (partitions or records), so chunks stay within :data:`MAX_RECORDS_PER_REQUEST`.
    """
    ok, failed = {}, {}
    pending = []
    for chunk in _chunks_weighted(items, batch_size, weight or (lambda item: 1), MAX_RECORDS_PER_REQUEST):
        try:
            pending.append(submit(chunk))
        except KafkaOpsError:
            raise
        except Exception as exc:
            for item in chunk:
                failed[_item_name(item)] = str(exc)
    for futures in pending:
        try:
            good, bad = cluster.results(futures, what, timeout=timeout)
        except KafkaOpsError as exc:  # this batch got no answer: its topics failed, earlier batches stand
            good, bad = {}, dict((key, exc.msg) for key in futures)
        ok.update(good)
        failed.update(bad)
    return ok, failed


def _item_name(item):
    return getattr(item, "topic", None) or getattr(item, "name", None) or str(item)


def apply(cluster, p, check_mode=False, timeout=None):
    """Run the plan on the target (``validate_only`` in check mode). Returns per-topic outcomes."""
    # Creating hundreds of partitions takes the brokers longer than a metadata read: allow at least
    # MUTATION_TIMEOUT seconds per batch (never past the module's deadline).
    op_timeout = cluster.timeout(timeout if timeout is not None else max(cluster.request_timeout, MUTATION_TIMEOUT))
    kwargs = dict(request_timeout=op_timeout, validate_only=bool(check_mode))
    out = {"created": [], "expanded": [], "altered": [], "failed_topics": {}}
    batch = getattr(p, "batch_size", DEFAULT_BATCH_SIZE)

    if p.create:
        new = [NewTopic(t, num_partitions=s["partitions"], replication_factor=s["replication_factor"],
                        config=dict(s["configs"])) for t, s in sorted(p.create.items())]
        ok, failed = _batched(cluster, "create topics", new, batch,
                              lambda chunk: cluster.admin.create_topics(chunk, operation_timeout=op_timeout, **kwargs),
                              op_timeout + 5, weight=lambda t: 1 + p.create[t.topic]["partitions"] + len(p.create[t.topic]["configs"]))
        out["created"] = sorted(ok)
        out["failed_topics"].update(failed)
    if p.expand:
        new = [NewPartitions(t, e["after"]) for t, e in sorted(p.expand.items())]
        ok, failed = _batched(cluster, "create partitions", new, batch,
                              lambda chunk: cluster.admin.create_partitions(chunk, operation_timeout=op_timeout, **kwargs),
                              op_timeout + 5, weight=lambda n: p.expand[n.topic]["after"] - p.expand[n.topic]["before"])
        out["expanded"] = sorted(ok)
        out["failed_topics"].update(failed)
    if p.alter:
        resources = []
        for topic, changes in sorted(p.alter.items()):
            entries = []
            for key, change in sorted(changes.items()):
                if change["after"] is None:
                    entries.append(ConfigEntry(key, None, incremental_operation=AlterConfigOpType.DELETE))
                else:
                    entries.append(ConfigEntry(key, change["after"], incremental_operation=AlterConfigOpType.SET))
            resources.append(ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=entries))

        def submit(chunk):
            futs = cluster.admin.incremental_alter_configs(chunk, **kwargs)
            return dict((res.name, fut) for res, fut in futs.items())

        ok, failed = _batched(cluster, "alter topic configs", resources, batch, submit, op_timeout + 5)
        out["altered"] = sorted(ok)
        for topic, err in failed.items():
            out["failed_topics"][topic] = "%s; %s" % (out["failed_topics"][topic], err) if topic in out["failed_topics"] else err
    return out


def _poll_missing(cluster, missing, seconds, still_missing):
    """Call ``still_missing(missing)`` (returns what is still missing) on :func:`wait.poll` with a
    back-off from 0.2 s to 2 s until nothing is missing, ``seconds`` passed, or the cluster's own
    deadline is 1 s away; return the sorted names still missing. A failed read counts as nothing new
    seen: the changes are made, a busy or late broker is asked again until the bound."""
    deadline = Deadline(seconds)
    for _elapsed in poll(0.2, deadline, backoff=2.0, max_interval=2.0):
        try:
            missing = still_missing(missing)
        except KafkaOpsError:
            pass
        cluster_left = cluster.deadline.remaining()
        if not missing or deadline.expired or (cluster_left is not None and cluster_left <= 1):
            break
    return sorted(missing)


def wait_visible(cluster, expected, seconds=30.0):
    """Poll the target's metadata until every ``{topic: partitions}`` is visible; return the missing."""
    view = admin.view_of(cluster)

    def still_missing(missing):
        meta = list_topics(view)
        return dict((t, n) for t, n in missing.items() if meta.get(t, {}).get("partitions", 0) < n)

    return _poll_missing(view.cluster, dict(expected), seconds, still_missing)


def wait_configs(cluster, changes, batch_size, seconds=30.0):
    """Poll the topics' config descriptions until the brokers show every ``{topic: {key: {"after":
    value}}}`` change (``None``: the override is gone); return the topics still showing old values."""
    view = admin.view_of(cluster)

    def shows(entries, key, change):
        entry = entries.get(key)
        if change["after"] is None:
            return entry is None or entry["source"] != TOPIC_LEVEL
        return entry is not None and entry["value"] == change["after"]

    def still_missing(missing):
        ok = admin.topic_config_entries(view, list(missing), batch_size)[0]
        return dict((topic, keys) for topic, keys in missing.items()
                    if topic not in ok or not all(shows(ok[topic], k, c) for k, c in keys.items()))

    return _poll_missing(view.cluster, dict(changes), seconds, still_missing)


def sync(source, target, options, check_mode=False, timeout=None, wait_timeout=30.0, described=None):
    """The whole step: check the two clusters are two, read both, plan, validate, apply.
    Returns ``(result, diff)``. ``source`` / ``target``: :class:`connection.Cluster` or
    :class:`admin.ClusterView`.

    First of all (before anything else is read or written) ``admin.ensure_distinct`` compares the
    clusters' ids; ``described`` is its ``(source, target)`` return value when the caller already
    called it.

    After creating topics or partitions, waits up to ``wait_timeout`` seconds (0: not at all) until the
    target's metadata shows them: a KRaft controller acknowledges a create before the brokers have
    created the logs, and a topic is only usable (and seen by the next run) once they have.

    Raises KafkaOpsError (nothing changed on the target) when the clusters are one, or the plan has
    validation errors (target names included).
    """
    clock = Deadline(None)
    timings = {}

    def lap(name):
        timings[name] = round(clock.elapsed() - sum(v for v in timings.values() if not isinstance(v, dict)), 3)

    # one admin layer: every read of either cluster goes through its ClusterView
    source, target = admin.view_of(source), admin.view_of(target)
    if target.cluster.api == "alibaba":  # topics through the vendor's API (alitopics.py)
        return alitopics.sync(source, target, options, check_mode=check_mode, wait_timeout=wait_timeout,
                              described=described, topics_module=sys.modules[__name__])
    if described is None:
        described = admin.ensure_distinct(source, target)
    target_info = described[1]
    brokers = len(target_info["brokers"])
    lap("connect")
    details = {}
    src, tgt = read_clusters(source, target, options, timeout, details)
    selected = [t for t in src if options.selected(t) == (True, None)]
    lap("read")
    timings["read_details"] = details
    p = plan(src, tgt, brokers, options)
    p.batch_size = options.batch_size
    lap("plan")
    unmatched = options.unmatched_includes(src)
    result = {
        "created": [], "expanded": [], "altered": [], "failed_topics": {},
        "skipped_topics": p.skipped, "drift": p.drift, "adjusted": p.adjusted, "not_copied": p.not_copied,
        "planned": {"create": p.create, "expand": p.expand, "alter": p.alter},
        "topic_map": p.topic_map,
        "unmatched_include": unmatched,
        "summary": {"source_topics": len(src), "selected": len(selected),
                    "ignored": p.ignored, "unchanged": len(p.unchanged), "target_brokers": brokers},
        "timings": timings,
        "warnings": [],
    }
    if unmatched:
        # a warning, not a failure: a re-run after the source topics are gone is legitimate
        result["warnings"].append(
            "include pattern(s) matching no source topic (a typo, or the topics are gone): %s"
            % ", ".join(repr(x) for x in unmatched))
    if p.errors:
        raise KafkaOpsError(
            "validation failed for %d topic(s), nothing was changed on the target: %s"
            % (len(p.errors), "; ".join("%s: %s" % (t, e) for t, e in sorted(p.errors.items())[:10])),
            invalid=p.errors, **dict((k, v) for k, v in result.items() if k != "warnings"))
    diff = p.diff(tgt)
    if p.changes:
        result.update(apply(target.cluster, p, check_mode=check_mode, timeout=timeout))
        lap("apply")
        if not check_mode and wait_timeout and result["created"] + result["expanded"] + result["altered"]:
            wait = Deadline(wait_timeout)
            expected = dict((t, p.create[t]["partitions"]) for t in result["created"])
            expected.update(dict((t, p.expand[t]["after"]) for t in result["expanded"]))
            late = wait_visible(target, expected, wait_timeout) if expected else []
            if result["altered"]:
                late = sorted(set(late) | set(wait_configs(
                    target, dict((t, p.alter[t]) for t in result["altered"]), options.batch_size,
                    max(wait.remaining(), 0.5))))
            if late:
                result["warnings"].append(
                    "%d topic(s) not yet shown as changed by the target's brokers after %ss (the changes were made;"
                    " the brokers are still applying them): %s" % (len(late), wait_timeout, ", ".join(late[:10])))
                result["not_ready"] = late
            lap("wait_visible")
    for side in diff.values():
        for topic in result["failed_topics"]:
            side.pop(topic, None)
    result["changed"] = bool(result["created"] or result["expanded"] or result["altered"])
    for topic, d in sorted(p.drift.items()):
        if "partitions" in d:
            result["warnings"].append("%s: the target has %d partitions, the source %d (reported, not changed)"
                                      % (topic, d["partitions"]["target"], d["partitions"]["source"]))
    result["duration"] = round(clock.elapsed(), 3)
    return result, diff
