# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Procedure step 3 on an Alibaba Cloud ApsaraMQ for Kafka target: topics through its OpenAPI.

The source is read as for any target (:func:`topics.read_clusters`, the admin layer); the target's
topics are read with GetTopicList, created with CreateTopic and expanded with ModifyPartitionNum
(:class:`alibaba.AlibabaApi`, rate limited). The API has no batch call for topics: one CreateTopic per
missing topic, spaced by ``alibaba.rate_limit``. What the API cannot set is reported, never silently
dropped:

* cloud storage (``alibaba.topic_storage: cloud``, the default and the only storage of the Standard
  Edition): partitions and remark only; retention is the instance's (``MsgRetain``), every other config
  lands in ``not_copied``; a compacted source topic is refused (compaction needs local storage);
* local storage (Professional Edition): also ``CompactTopic`` from ``cleanup.policy``, the replication
  factor (at most 3), ``MinInsyncReplicas`` and the ``Config`` keys the API accepts (retention.ms,
  max.message.bytes, message.timestamp.type, each within the API's range).

After the calls, the topics are proven on the instance's brokers over the Kafka protocol (metadata
shows them with their partitions), as for any target.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kafkaops.migration.plugins.module_utils import admin, alibaba
from ansible_collections.kafkaops.migration.plugins.module_utils.errors import KafkaOpsError
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline

MIN_ISR = "min.insync.replicas"
ALIBABA_REPLICAS = 3  # the service keeps three replicas (cloud storage: managed; local: at most 3)


def _int(value, default=None):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def target_description(api_topics):
    """GetTopicList's topics as ``{topic: {"partitions", "local", "compact", "remark", "status"}}``."""
    out = {}
    for name, t in api_topics.items():
        out[name] = {"partitions": _int(t.get("PartitionNum"), 0), "local": bool(t.get("LocalTopic")),
                     "compact": bool(t.get("CompactTopic")), "remark": t.get("Remark"), "status": t.get("StatusName")}
    return out


def _local_settings(topic, tname, configs, src, storage, p):
    """The CreateTopic settings of one topic from its desired configs; records refusals in ``p``."""
    policy = str(configs.get("cleanup.policy", "delete"))
    compact = "compact" in policy
    settable = {}
    left = {}
    for key, value in sorted(configs.items()):
        if key == "cleanup.policy":
            continue
        if key in alibaba.LOCAL_CONFIGS and storage == "local":
            lo, hi = alibaba.LOCAL_CONFIGS[key]
            if isinstance(lo, int):
                v = _int(value)
                if v is None or not lo <= v <= hi:
                    p.errors[topic] = ("%s=%s is outside what the Alibaba API accepts (%d to %d); set it in config_overrides"
                                       " or add it to extra_deny_configs" % (key, value, lo, hi))
                    return None
                settable[key] = str(v)
            elif value not in (lo, hi):
                p.errors[topic] = "%s=%s is not one of %s, %s" % (key, value, lo, hi)
                return None
            else:
                settable[key] = value
        elif key == MIN_ISR and storage == "local":
            continue
        else:
            left[key] = ("cloud storage: the instance's settings apply" if storage == "cloud"
                         else "no such setting in the Alibaba API")
    if compact and storage == "cloud":
        p.errors[topic] = ("cleanup.policy=%s: compaction needs local storage on Alibaba Cloud (alibaba.topic_storage: local,"
                           " Professional Edition), or exclude the topic" % policy)
        return None
    if left:
        p.not_copied.setdefault(tname, {}).update(left)
    spec = {"partitions": src["partitions"], "storage": storage, "remark": alibaba.remark_for(topic)}
    if storage == "local":
        spec["compact"] = compact
        spec["replication_factor"] = min(max(_int(src.get("replication_factor"), ALIBABA_REPLICAS), 1), ALIBABA_REPLICAS)
        if MIN_ISR in configs:
            spec["min_insync_replicas"] = min(_int(configs[MIN_ISR], 1), spec["replication_factor"])
        spec["configs"] = settable
    else:
        spec["configs"] = {}
    return spec


def plan(source, target, options, storage, topics_module):
    """The plan (a :class:`topics.Plan`) for an Alibaba target; ``target`` from :func:`target_description`."""
    p = topics_module.Plan()
    readable = topics_module.readable_topics(source, options, p)
    p.errors.update(options.names.problems(readable, source))
    for topic in readable:
        src = source[topic]
        tname = options.target_name(topic)
        p.topic_map[topic] = tname
        if topic in p.errors:
            continue
        if src["partitions"] > alibaba.MAX_PARTITIONS:
            p.errors[topic] = "%d partitions: the service allows at most %d per topic" % (src["partitions"], alibaba.MAX_PARTITIONS)
            continue
        configs = topics_module.desired_configs(tname, src["configs"], options, ALIBABA_REPLICAS, p, source_topic=topic)
        if topic in p.errors:
            continue
        tgt = target.get(tname)
        if tgt is None:
            spec = _local_settings(topic, tname, configs, src, storage, p)
            if spec is not None:
                p.create[tname] = spec
            continue
        drift = {}
        if src["partitions"] > tgt["partitions"]:
            p.expand[tname] = {"before": tgt["partitions"], "after": src["partitions"]}
        elif src["partitions"] < tgt["partitions"]:
            drift["partitions"] = {"source": src["partitions"], "target": tgt["partitions"],
                                   "note": "the target has more partitions; never reduced, keys may map to other partitions"}
        compact = "compact" in str(configs.get("cleanup.policy", "delete"))
        if compact != tgt["compact"]:
            drift["compaction"] = {"source": compact, "target": tgt["compact"], "note": "not changed: the API cannot"}
        if drift:
            p.drift[tname] = drift
        if tname not in p.expand and not drift:
            p.unchanged.append(tname)
    return p


def apply(api, p, check_mode=False):
    """CreateTopic per missing topic, ModifyPartitionNum per expansion (each rate limited); per-topic outcomes."""
    out = {"created": [], "expanded": [], "altered": [], "failed_topics": {}}
    if check_mode:
        return out
    for tname, spec in sorted(p.create.items()):
        try:
            api.create_topic(tname, spec["partitions"], spec["remark"], local=spec["storage"] == "local",
                             compact=spec.get("compact"), replication_factor=spec.get("replication_factor"),
                             min_insync_replicas=spec.get("min_insync_replicas"), config=spec.get("configs"))
            out["created"].append(tname)
        except alibaba.AlibabaError as exc:  # one topic's failure never hides the others' outcomes
            out["failed_topics"][tname] = exc.msg
    for tname, change in sorted(p.expand.items()):
        try:
            api.add_partitions(tname, change["after"] - change["before"])
            out["expanded"].append(tname)
        except alibaba.AlibabaError as exc:
            out["failed_topics"][tname] = exc.msg
    return out


def _reconcile(api, p, out):
    """After a failed create, GetTopicList says whether the topic exists after all (a lost answer)."""
    suspicious = [t for t, e in out["failed_topics"].items() if t in p.create]
    if not suspicious:
        return
    try:
        now = target_description(api.topics())
    except alibaba.AlibabaError:
        return
    for t in suspicious:
        if t in now and now[t]["partitions"] >= p.create[t]["partitions"] and "exist" in out["failed_topics"][t].lower():
            # created by an earlier attempt whose answer was lost, with the partitions wanted
            out["failed_topics"].pop(t)
            out["created"].append(t)
    out["created"].sort()


def sync(source, target, options, check_mode=False, wait_timeout=30.0, described=None, topics_module=None):
    """kafka_topic_sync for an ``api: alibaba`` target; returns ``(result, diff)`` like :func:`topics.sync`."""
    clock = Deadline(None)
    timings = {}

    def lap(name):
        timings[name] = round(clock.elapsed() - sum(v for v in timings.values() if not isinstance(v, dict)), 3)

    source, target = admin.view_of(source), admin.view_of(target)
    api = target.cluster.alibaba
    options.names.name_rule = api.name_rule
    if described is None:
        described = admin.ensure_distinct(source, target)
    inst = api.require_running()
    lap("connect")
    src, _unused = topics_module.read_clusters(source, None, options)
    selected = [t for t in src if options.selected(t) == (True, None)]
    tgt = target_description(api.topics())
    lap("read")
    p = plan(src, tgt, options, api.storage, topics_module)
    lap("plan")
    unmatched = options.unmatched_includes(src)
    quota = _quota_problem(inst, tgt, p)
    result = {
        "created": [], "expanded": [], "altered": [], "failed_topics": {},
        "skipped_topics": p.skipped, "drift": p.drift, "adjusted": p.adjusted, "not_copied": p.not_copied,
        "planned": {"create": p.create, "expand": p.expand, "alter": p.alter},
        "topic_map": p.topic_map,
        "renamed": dict((s, t) for s, t in p.topic_map.items() if s != t),
        "unmatched_include": unmatched,
        "summary": {"source_topics": len(src), "selected": len(selected), "ignored": p.ignored,
                    "unchanged": len(p.unchanged), "target_api": "alibaba", "instance_id": api.instance_id},
        "timings": timings,
        "warnings": [],
    }
    if unmatched:
        result["warnings"].append("include pattern(s) matching no source topic (a typo, or the topics are gone): %s"
                                  % ", ".join(repr(x) for x in unmatched))
    if p.errors or quota:
        errors = dict(p.errors)
        text = "; ".join("%s: %s" % (t, e) for t, e in sorted(errors.items())[:10])
        if quota:
            text = "%s%s" % (quota, "; " + text if text else "")
        raise KafkaOpsError("validation failed for %d topic(s), nothing was changed on the target: %s"
                            % (len(errors), text), invalid=errors,
                            **dict((k, v) for k, v in result.items() if k != "warnings"))
    diff = p.diff({})
    if p.changes:
        result.update(apply(api, p, check_mode=check_mode))
        _reconcile(api, p, result)
        lap("apply")
        if not check_mode and wait_timeout and result["created"] + result["expanded"]:
            expected = dict((t, p.create[t]["partitions"]) for t in result["created"])
            expected.update(dict((t, p.expand[t]["after"]) for t in result["expanded"]))
            late = topics_module.wait_visible(target, expected, wait_timeout)
            if late:
                result["warnings"].append(
                    "%d topic(s) not yet shown by the instance's brokers after %ss (the API accepted them): %s"
                    % (len(late), wait_timeout, ", ".join(late[:10])))
                result["not_ready"] = late
            lap("wait_visible")
    for side in diff.values():
        for topic in result["failed_topics"]:
            side.pop(topic, None)
    result["changed"] = bool(result["created"] or result["expanded"])
    result["api_calls"] = {"calls": api.calls, "throttled": api.throttled, "rate_limit": api.options.get("rate_limit") or 1.0,
                           "rate_limit_wait": round(api.limit.waited, 3)}
    result["duration"] = round(clock.elapsed(), 3)
    return result, diff


def _quota_problem(inst, tgt, p):
    """Whether the plan fits the instance's topic and partition quotas (GetInstanceList), as a message or None."""
    topic_limit = _int(inst.get("TopicNumLimit"))
    partition_limit = _int(inst.get("PartitionNum"))
    used_topics = len(tgt)
    used_partitions = sum(t["partitions"] for t in tgt.values())
    new_topics = len(p.create)
    new_partitions = sum(s["partitions"] for s in p.create.values()) + sum(e["after"] - e["before"] for e in p.expand.values())
    problems = []
    if topic_limit and used_topics + new_topics > topic_limit:
        problems.append("%d topics wanted, the instance allows %d (%d in use)" % (used_topics + new_topics, topic_limit, used_topics))
    if partition_limit and used_partitions + new_partitions > partition_limit:
        problems.append("%d partitions wanted, the instance allows %d (%d in use)"
                        % (used_partitions + new_partitions, partition_limit, used_partitions))
    if problems:
        return "the instance's quota is too small: %s; buy a larger spec or select fewer topics" % "; ".join(problems)
    return None
