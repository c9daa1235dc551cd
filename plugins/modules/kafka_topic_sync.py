#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kafka_topic_sync
short_description: Copy topic metadata (partitions, replication factor, configs) from the source to the target cluster
version_added: 0.1.0
author: kafkaops.migration contributors (@kafkaops)
description:
  - Step 3 of the migration procedure. Creates the source's topics that are missing on the target with the
    source's partition count, a mapped replication factor and the source's topic-level config overrides.
  - Before anything else is read or written, the two clusters are compared by cluster id (DescribeCluster);
    one cluster given twice (for example as C(localhost:9092) and C(127.0.0.1:9092)) fails the task with
    "the source and the target are the same cluster" and nothing is changed.
  - Source topic C(orders) becomes the target topic O(target_prefix) + C(orders) + O(target_suffix) (the same
    name by default). With a prefix or suffix, for example O(target_prefix=source.), the target gets backup
    topics (C(source.orders)) that a copy (M(kafkaops.migration.kafka_mirror) with the same options) writes into
    and that the applications' consumers never read, the way MirrorMaker 2's default replication policy names
    remote topics. Everything on the target (creation, expansion, drift, check mode, diff) then applies to the
    renamed topics; RV(topic_map) says which target topic each source topic has.
  - With O(target.api=alibaba) (Alibaba Cloud ApsaraMQ for Kafka) the target's topics are read with GetTopicList,
    created with CreateTopic (partitions, storage engine, remark C(from-<source name>), and with local storage
    compaction, replication factor, min ISR and the Config keys the API accepts) and expanded with ModifyPartitionNum,
    one call per topic (the API has no batch call) at O(target.alibaba.rate_limit) calls per second, throttling
    retried with back-off. What the API cannot set is listed in RV(not_copied); a compacted topic on cloud storage,
    a value outside the API's range, more than 360 partitions, or more topics or partitions than the instance's
    quota fail the task before any call that changes something. The created topics are then proven on the
    instance's brokers over the Kafka protocol. Names the instance refuses follow O(rename) and O(rename_rule).
  - Adds partitions to target topics that have fewer than on the source. A target topic with more partitions
    than the source is reported in RV(drift) and a warning, never changed.
  - Reports config drift between the source's overrides and the target's effective values in RV(drift);
    with O(align_configs=true) aligns them with incremental alter configs.
  - Internal topics are never copied, whatever the patterns say - the collection's one internal-topic rule, shared
    by every module - names starting with C(__) (C(__consumer_offsets), C(__transaction_state), probes), C(_confluent*),
    C(_schemas), MirrorMaker 2 internals (C(heartbeats), C(*.heartbeats), C(*.checkpoints.internal),
    C(mm2-offset-syncs.*.internal), C(mm2-configs|offsets|status.*.internal)), Kafka Connect's storage topics
    (C(connect-configs), C(connect-offsets), C(connect-status), also with C(connect-cluster-)) and the collection's own
    offset map C(kafkaops.mirror.offsets).
  - Everything is read with a few batched calls and changed in batches of O(batch_size) topics per request;
    every per-topic outcome is collected, so a partial failure lists the failed topics in RV(failed_topics) and
    still returns the ones that succeeded.
  - Validation (bad patterns, a replication factor larger than the target's broker count, a deny-listed config
    forced through O(config_overrides), C(min.insync.replicas) above the replication factor with
    O(min_insync_replicas=fail), a target topic name that is illegal, internal, or the name of another source
    topic) fails the task before anything is changed on the target, listing the topics in RV(invalid).
  - In check mode the create, expand and alter requests are sent with C(validate_only), so the target's own
    validation (for example a config it does not know) is reported per topic without changing anything.
options:
  include:
    description:
      - Regular expressions (Python syntax, matched against the whole topic name, C(re.fullmatch)) of the source
        topics to copy. Not given, every non-internal topic is copied; an empty list is refused (it would copy
        none, which is almost always a templating mistake).
      - A pattern that matches no source topic gives a warning and is listed in RV(unmatched_include); the task
        does not fail, because a re-run after the source topics are gone (retired, or renamed) is legitimate,
        and a failure would stop that re-run. Check the warning for typos.
    type: list
    elements: str
  exclude:
    description:
      - Regular expressions (matched against the whole topic name) of topics not to copy, even when included.
      - Excluded topics are listed in RV(skipped_topics).
    type: list
    elements: str
    default: []
  target_prefix:
    description:
      - Text put before each source topic's name to make its target topic's name
        (O(target_prefix) + name + O(target_suffix)); for example V(source.) creates C(source.orders) for C(orders).
      - Only ASCII letters, digits, C(.), C(_) and C(-); a target name longer than 249 characters, a target name
        that is an internal topic's name (for example with O(target_suffix=.heartbeats)), or one that is the name of
        another source topic (O(target_prefix=a.) with source topics C(orders) and C(a.orders)) fails the task
        before anything is changed, listing the topics.
      - Give M(kafkaops.migration.kafka_mirror) the same O(target_prefix) and O(target_suffix) so that the copy
        writes into these topics.
    type: str
    default: ''
  target_suffix:
    description:
      - Text put after each source topic's name to make its target topic's name, for example V(.backup).
      - Same rules as O(target_prefix).
    type: str
    default: ''
  rename:
    description:
      - Target topic names for source topics, a dict of source topic to target topic, applied before O(target_prefix)
        and O(target_suffix). Give the same map to M(kafkaops.migration.kafka_mirror),
        M(kafkaops.migration.kafka_group_sync) and M(kafkaops.migration.kafka_client_config) (the roles do).
      - Two source topics with one target name, or a renamed topic landing on another source topic's name, fail the
        task before anything is changed.
    type: dict
    default: {}
  rename_rule:
    description:
      - What happens to a topic the O(rename) map does not name and the target refuses (a target with
        O(target.api=alibaba) refuses C(.) under its C(strict) name rule).
      - V(underscore) replaces each refused character by C(_) (C(orders.v1) becomes C(orders_v1)); V(refuse) fails
        the task listing those topics. Names longer than the target allows are always refused, never truncated.
    type: str
    choices: [underscore, refuse]
    default: underscore
  replication_factor:
    description:
      - Replication factor of topics created on the target.
      - V(auto) uses the smaller of the source topic's replication factor and the target's broker count.
      - V(keep) uses the source topic's replication factor; the task fails before any change when a topic's
        replication factor is larger than the target's broker count.
      - A positive integer uses that number for every created topic.
      - Existing target topics are never re-replicated; a different replication factor is reported in RV(drift).
    type: raw
    default: auto
  deny_configs:
    description:
      - Topic configs never copied, as shell-style patterns (C(confluent.*)). Giving this option replaces the
        default list; use O(extra_deny_configs) to extend it instead.
      - The default holds the configs Apache Kafka 4.0 removed (C(message.format.version),
        C(message.downconversion.enable), C(message.timestamp.difference.max.ms)), the throttled-replica lists
        (they name source broker ids), vendor keys (C(confluent.*)), tiered-storage settings that belong to the
        target cluster, and the broker I/O tuning that managed services refuse or manage themselves.
      - Configs left out are listed per topic in RV(not_copied).
    type: list
    elements: str
    default:
      - message.format.version
      - message.downconversion.enable
      - message.timestamp.difference.max.ms
      - leader.replication.throttled.replicas
      - follower.replication.throttled.replicas
      - confluent.*
      - remote.storage.enable
      - remote.log.*
      - local.retention.ms
      - local.retention.bytes
      - flush.messages
      - flush.ms
      - file.delete.delay.ms
      - index.interval.bytes
      - segment.index.bytes
      - preallocate
  extra_deny_configs:
    description:
      - More patterns added to O(deny_configs), for example what a managed target refuses.
    type: list
    elements: str
    default: []
  config_overrides:
    description:
      - Topic configs set on every copied topic, on top of (and winning over) the source's values,
        for example C(min.insync.replicas=2).
      - A key matching the deny-list fails the task before anything is changed.
    type: dict
    default: {}
  config_sources:
    description:
      - Which source values are copied. V(topic) copies the topic-level overrides only (the values set with
        C(kafka-configs --alter) or at creation).
      - V(broker) also copies values a topic inherits from the source brokers' settings (static or dynamic),
        so that a different default on the target does not change the topic's behaviour.
    type: list
    elements: str
    choices: [topic, broker]
    default: [topic]
  align_configs:
    description:
      - Set the configs of existing target topics that differ from the source (incremental alter, batched).
      - When false, differences are only reported in RV(drift).
    type: bool
    default: false
  remove_extra_configs:
    description:
      - With O(align_configs=true), also delete topic-level overrides the target has and the source has not
        (deny-listed keys are never touched). When false they are only reported in RV(drift).
    type: bool
    default: false
  min_insync_replicas:
    description:
      - What to do when a topic's C(min.insync.replicas) is larger than its replication factor on the target
        (producers with C(acks=all) could never write).
      - V(clamp) lowers it to the replication factor and reports it in RV(adjusted); V(fail) fails the task
        before anything is changed.
    type: str
    choices: [clamp, fail]
    default: clamp
  batch_size:
    description:
      - Topics per create, create-partitions, describe and alter request. A request also stays below
        8,000 partitions and configs, since a KRaft controller refuses more than 10,000 records in one request.
    type: int
    default: 500
  wait_timeout:
    description:
      - Seconds to wait, after the changes, until the target's brokers show them all (topics and partitions
        in the metadata, altered configs in their descriptions). A KRaft controller acknowledges a change
        before the brokers have applied it (and created the logs); a topic is usable (by producers, and by the
        next step or run) once they have.
      - Topics still not visible then are listed in RV(not_ready) and a warning; the task does not fail.
      - V(0) returns as soon as the controller acknowledged. Never waits past O(timeout).
    type: float
    default: 30.0
extends_documentation_fragment:
  - kafkaops.migration.connection
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
notes:
  - Only topic metadata is copied; messages are copied by M(kafkaops.migration.kafka_mirror).
  - Apache Kafka 4.x lowered the default of C(message.timestamp.after.max.ms) to one hour; use
    O(config_sources=[topic, broker]) or O(config_overrides) when producers send timestamps further in the future.
seealso:
  - module: kafkaops.migration.kafka_spec_facts
"""

EXAMPLES = r"""
- name: Preview the topics the target would get (nothing is changed)
  kafkaops.migration.kafka_topic_sync:
    source: "{{ kafka_source }}"
    target: "{{ kafka_target }}"
    include: ['orders\..*', 'payments\..*']
  check_mode: true
  diff: true

- name: Copy every application topic, replication factor fitted to the target
  kafkaops.migration.kafka_topic_sync:
    source:
      bootstrap_servers: [kafka1.old:9092, kafka2.old:9092]
    target:
      bootstrap_servers: [kafka.new:9094]
      security_protocol: SASL_SSL
      sasl_mechanism: SCRAM-SHA-512
      sasl_username: migrator
      sasl_password: "{{ vault_target_password }}"
    exclude: ['.*-tmp']
    replication_factor: auto
    extra_deny_configs: ['unclean.leader.election.enable']
  register: topic_sync

- name: Backup topics for the drain procedure - orders becomes source.orders, never read by the new consumers
  kafkaops.migration.kafka_topic_sync:
    source: "{{ kafka_source }}"
    target: "{{ kafka_target }}"
    include: ['orders', 'payments\..*']
    target_prefix: source.
  register: backup_topics

- name: Show which target topic each source topic has
  ansible.builtin.debug:
    msg: "{{ backup_topics.topic_map }}"   # {orders: source.orders, payments.eu: source.payments.eu}

- name: Align drifted configs and force min.insync.replicas
  kafkaops.migration.kafka_topic_sync:
    source: "{{ kafka_source }}"
    target: "{{ kafka_target }}"
    align_configs: true
    config_overrides:
      min.insync.replicas: 2
"""

RETURN = r"""
topic_map:
  description:
    - For each selected source topic, the name of its target topic (O(target_prefix) + name + O(target_suffix)).
      The other results that describe the target (RV(created), RV(expanded), RV(altered), RV(failed_topics),
      RV(drift), RV(adjusted), RV(not_copied), RV(planned), RV(not_ready) and the diff) are keyed by the target
      topic name; RV(skipped_topics) and RV(invalid) by the source topic name.
  returned: always
  type: dict
  sample: {orders: source.orders, payments: source.payments}
unmatched_include:
  description:
    - The O(include) patterns that match no source topic (also given as a warning); empty when O(include) is
      not given.
  returned: always
  type: list
  elements: str
  sample: ['ordres\..*']
created:
  description: Topics created on the target (in check mode, that would be created).
  returned: always
  type: list
  elements: str
  sample: [orders.eu, payments]
expanded:
  description: Target topics whose partition count was raised to the source's.
  returned: always
  type: list
  elements: str
  sample: [orders.us]
altered:
  description: Target topics whose configs were aligned (O(align_configs=true)).
  returned: always
  type: list
  elements: str
  sample: [payments]
failed_topics:
  description:
    - Topics whose create, expand or alter request the target refused, with its error (in check mode, that it
      would refuse). The task then fails, and still returns the topics that succeeded.
    - Named so because C(failed) is reserved in Ansible results.
  returned: always
  type: dict
  sample: {legacy: "INVALID_CONFIG: Unknown topic config name: message.format.version"}
skipped_topics:
  description:
    - Topics matched by O(include) but not copied, with the reason (internal, excluded, unreadable).
    - Named so because C(skipped) is reserved in Ansible results.
  returned: always
  type: dict
  sample: {__consumer_offsets: internal topic}
drift:
  description:
    - Per existing target topic, what differs from the source before this run - C(configs) (key to
      C(source) / C(target) values; C(source=null) for an override only the target has), C(partitions)
      (the target has more) and C(replication_factor).
  returned: always
  type: dict
  sample: {payments: {configs: {retention.ms: {source: "86400000", target: "604800000"}}}}
adjusted:
  description: Configs changed on the way, per topic (C(min.insync.replicas) clamped to the replication factor).
  returned: always
  type: dict
  sample: {orders: {min.insync.replicas: {source: "3", target: "2", reason: clamped to the target replication factor 2}}}
not_copied:
  description: Deny-listed source configs left out, per topic, with the matching pattern.
  returned: always
  type: dict
  sample: {legacy: {message.format.version: message.format.version}}
planned:
  description:
    - The plan, per topic - C(create) (partitions, replication_factor, configs), C(expand) (before/after
      partition count) and C(alter) (per config before/after; C(after=null) deletes the override).
  returned: always
  type: dict
  sample: {create: {orders: {partitions: 6, replication_factor: 2, configs: {retention.ms: "86400000"}}}, expand: {}, alter: {}}
summary:
  description: Counts - source topics, selected, ignored (not matched by O(include)), unchanged, target brokers.
  returned: always
  type: dict
  sample: {source_topics: 2012, selected: 2000, ignored: 12, unchanged: 1990, target_brokers: 2}
not_ready:
  description: Created, expanded or altered topics the target's brokers did not show as changed after O(wait_timeout).
  returned: when some were not visible in time
  type: list
  elements: str
  sample: [orders.eu]
timings:
  description:
    - Seconds spent per phase - C(connect), C(read) (both clusters), C(plan), C(apply), C(wait_visible);
      C(read_details) says when each cluster's config descriptions had all arrived.
  returned: always
  type: dict
  sample: {connect: 0.2, read: 0.9, read_details: {source_configs: 0.5, target_configs: 0.7}, plan: 0.01, apply: 3.1, wait_visible: 0.4}
renamed:
  description: Source topics whose target topic has another name (rename map or default rule), with that name.
  returned: with O(target.api=alibaba)
  type: dict
  sample: {orders.v1: orders_v1}
api_calls:
  description:
    - OpenAPI calls made with O(target.api=alibaba) - C(calls), C(throttled) (answers retried after back-off),
      C(rate_limit) and C(rate_limit_wait) (seconds spent keeping to it).
  returned: with O(target.api=alibaba)
  type: dict
  sample: {calls: 5, throttled: 0, rate_limit: 1.0, rate_limit_wait: 3.9}
duration:
  description: Seconds the sync took.
  returned: success
  type: float
  sample: 4.2
invalid:
  description: Per source topic, why validation failed (replication factor, C(min.insync.replicas), its target
    topic name); nothing was changed on the target.
  returned: when validation failed
  type: dict
  sample:
    payments: replication factor 3 (replication_factor=keep) exceeds the 2 brokers of the target
    orders: >-
      target topic name 'a.orders' collides with the source topic 'a.orders' of the same name (its own target topic);
      choose another target_prefix/target_suffix
cluster_id:
  description: The one cluster id of the source and target, when they are the same cluster (the task fails).
  returned: when the source and the target are one cluster
  type: str
  sample: MkU3OEVBNTcwNTJENDM2Qg
"""

import copy

from ansible_collections.kafkaops.migration.plugins.module_utils import admin, args
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import KafkaOpsError
from ansible_collections.kafkaops.migration.plugins.module_utils.topics import DEFAULT_DENY_CONFIGS, SyncOptions, sync
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline


def argument_spec():
    spec = args.source_target_argument_spec()
    spec.update(copy.deepcopy(admin.SELECTION_OPTION_SPEC))
    spec.update(
        target_prefix=dict(type="str", default=""),
        target_suffix=dict(type="str", default=""),
        rename=dict(type="dict", default={}),
        rename_rule=dict(type="str", choices=["underscore", "refuse"], default="underscore"),
        replication_factor=dict(type="raw", default="auto"),
        deny_configs=dict(type="list", elements="str", default=list(DEFAULT_DENY_CONFIGS)),
        extra_deny_configs=dict(type="list", elements="str", default=[]),
        config_overrides=dict(type="dict", default={}),
        config_sources=dict(type="list", elements="str", choices=["topic", "broker"], default=["topic"]),
        align_configs=dict(type="bool", default=False),
        remove_extra_configs=dict(type="bool", default=False),
        min_insync_replicas=dict(type="str", choices=["clamp", "fail"], default="clamp"),
        batch_size=dict(type="int", default=500),
        wait_timeout=dict(type="float", default=30.0),
    )
    return spec


def main():
    module = args.KafkaModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    try:
        if p["include"] is not None and not p["include"]:
            raise KafkaOpsError("include is empty, so no topic would be copied: omit it to copy every non-internal topic, "
                                "or list the patterns of the topics to copy")
        options = SyncOptions(
            include=p["include"], exclude=p["exclude"], replication_factor=p["replication_factor"],
            deny_configs=p["deny_configs"], extra_deny_configs=p["extra_deny_configs"],
            config_overrides=p["config_overrides"], config_sources=p["config_sources"],
            align_configs=p["align_configs"], remove_extra_configs=p["remove_extra_configs"],
            min_insync_replicas=p["min_insync_replicas"], batch_size=p["batch_size"],
            target_prefix=p["target_prefix"], target_suffix=p["target_suffix"],
            rename=p["rename"], rename_rule=p["rename_rule"])
    except KafkaOpsError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    deadline = Deadline(p["timeout"])
    source, target = args.clusters(module, ["source", "target"], deadline)
    try:
        if p["wait_timeout"] < 0:
            raise KafkaOpsError("wait_timeout must not be negative")
        # one cluster given twice (two spellings of its address) is refused before anything else
        described = admin.ensure_distinct(source, target)
        result, diff = sync(source, target, options, check_mode=module.check_mode, wait_timeout=p["wait_timeout"],
                            described=described)
    except KafkaOpsError as exc:
        module.fail_json(msg=exc.msg, changed=False, **exc.details)
    for warning in result.pop("warnings"):
        module.warn(warning)
    if module._diff and result["changed"]:
        result["diff"] = diff
    if result["failed_topics"]:
        module.fail_json(
            msg="%d topic(s) failed on the target: %s" % (
                len(result["failed_topics"]),
                "; ".join("%s: %s" % (t, e) for t, e in sorted(result["failed_topics"].items())[:5])),
            **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
