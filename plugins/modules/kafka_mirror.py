#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kafka_mirror
short_description: Copy topics' records from the source to the target cluster, exactly once and resumable
version_added: 0.1.0
description:
  - Copies the records of the chosen topics from the source cluster to their topics on the target
    cluster (step 5 of the migration, the optional data copy), keeping for each record its key, value,
    headers, timestamp and partition number. Null keys, null values and the tombstones of compacted
    topics are copied as they are.
  - A source topic C(orders) is copied into the target topic O(target_prefix) + C(orders) +
    O(target_suffix) (by default the same name). With a prefix or suffix the copy is a backup kept
    apart from the topics the producers write to on the target, as MirrorMaker 2's default replication
    policy does (C(source.orders)); give M(kafkaops.migration.kafka_topic_sync) the same O(target_prefix)
    and O(target_suffix) so it creates those topics.
  - O(rename) gives source topics other target names (applied before O(target_prefix) and O(target_suffix));
    with a target of O(target.api=alibaba), whose name rule refuses some Kafka names (C(.) under the C(strict)
    rule), O(rename_rule) says what happens to the others. This is the collection's one naming rule, the same
    as M(kafkaops.migration.kafka_topic_sync) and M(kafkaops.migration.kafka_group_sync) follow; give them the
    same O(rename) and O(rename_rule). RV(target_topics) and RV(renamed) say which target topic each source
    topic has.
  - Source and target are compared by cluster id first; one cluster given twice (for example as
    C(localhost:9092) and C(127.0.0.1:9092)) is refused before anything is read or written.
  - With O(engine=builtin) (the default) the copy runs inside this task. The source is read with
    C(isolation.level=read_committed), so records of aborted transactions are never copied. The
    target is written inside transactions of a stable C(transactional.id) derived from O(name); each
    transaction also writes one progress record per partition to the offset-map topic
    O(offset_map_topic), so data and progress are committed together. A copier killed at any point
    resumes, on the next run with the same O(name), right after the last committed batch, with no
    gap and no duplicate; starting a copier fences any older one of the same O(name).
  - The copy stops when its controller is gone, for example when C(ansible-playbook) is killed. About
    once a second (and at least once per transaction) the copier checks the chain of processes that
    started it, up to its session leader (with connection C(local), the ansible-playbook worker); when
    one of them is gone or was re-parented (its parent died), or when stdin, if it was an open pipe at
    start, is closed, the copier aborts the open transaction (nothing half-done is committed), writes
    V(interrupted) with the last committed position to O(progress_file) and fails. It stops within
    about 10 seconds (about 2 when the target answers promptly); a commit already under way is finished
    first. A run with the same O(name) resumes it. Ansible C(async) jobs are daemonized on purpose and
    go on after the controller ends.
  - The progress records are also the offset map that M(kafkaops.migration.kafka_group_sync) reads to
    translate consumer group offsets, so copied data is never consumed a second time on the target.
  - The target topics must exist beforehand (see M(kafkaops.migration.kafka_topic_sync)) with at least
    as many partitions as on the source. The selection is validated against both clusters first;
    when validation fails nothing is changed anywhere. The offset-map topic is created on the target
    when missing. The source is only read, never written (no consumer group offsets are committed).
  - Timestamps are preserved for target topics with C(message.timestamp.type=CreateTime) (the
    default). A target topic with C(LogAppendTime) gets the broker's time instead (a warning says so);
    a source topic with C(LogAppendTime) has its timestamps copied as C(CreateTime) values.
  - With O(engine=mirrormaker2) the task deploys MirrorMaker 2 connectors on an existing Kafka Connect
    cluster instead (for volumes one machine cannot carry); see O(mirrormaker2).
author: kafkaops.migration contributors (@kafkaops)
extends_documentation_fragment:
  - kafkaops.migration.wait
  - kafkaops.migration.connection
  - kafkaops.migration.mirrormaker2
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports per partition how many offsets would be copied (an upper bound; aborted records and
      transaction markers are counted) and changes nothing, not even the offset-map topic or the progress
      file. A target topic that does not exist yet is reported in RV(missing_target_topics) (topic sync
      would create it) instead of failing.
  diff_mode:
    support: full
    details: The diff shows each partition's resume point (next source offset to copy) before and after.
  platform:
    platforms: posix
options:
  engine:
    description:
      - V(builtin) copies inside the task, exactly once and resumable.
      - V(mirrormaker2) manages MirrorMaker 2 connectors on a Kafka Connect cluster (option O(mirrormaker2)).
    type: str
    choices: [builtin, mirrormaker2]
    default: builtin
  name:
    description:
      - Name of this copy. The target C(transactional.id) is C(kafkaops-mirror-<name>); runs with the same
        name resume each other and fence each other.
      - Letters, digits, C(.), C(_) and C(-).
    type: str
    default: default
  topics:
    description:
      - Source topics to copy, by exact name ("these exact topics"). Every name must exist on the source.
      - An internal topic (Kafka's C(__*) topics, C(_schemas), Kafka Connect's and MirrorMaker 2's topics,
        the offset-map topic) is refused with an error rather than copied.
    type: list
    elements: str
    default: []
  include:
    description:
      - Regular expressions (Python C(re), matched against the whole topic name); every source topic whose
        name matches one is copied too.
      - Internal topics are never selected, whatever the patterns (C(include=['.*']) selects no
        C(__consumer_offsets), C(_schemas), C(connect-offsets), C(heartbeats), nor the offset-map topic
        O(offset_map_topic)). This is the collection's one internal-topic rule, the same as topic sync's.
      - Not given (or empty), only O(topics) are copied. Give O(topics) or O(include); nothing selected is an
        error (unlike topic sync, the copy never defaults to every topic).
      - An include pattern that matches no source topic is reported in RV(warnings).
    type: list
    elements: str
    aliases: [topic_patterns]
  exclude:
    description:
      - Regular expressions (whole-name match); topics whose name matches one are left out, also when listed
        in O(topics).
    type: list
    elements: str
    default: []
    aliases: [exclude_patterns]
  target_prefix:
    description:
      - Prefix of the target topic names. Source topic C(orders) is copied into
        O(target_prefix) + C(orders) + O(target_suffix), same partition.
      - The offset map records the target topic of every partition, so
        M(kafkaops.migration.kafka_group_sync) translates offsets onto it.
      - One offset map holds one layout. A source topic already copied into one target topic through
        O(offset_map_topic) is refused for another one (nothing is written); give another layout its
        own O(offset_map_topic) and O(name).
      - Letters, digits, C(.), C(_) and C(-). Not supported with O(engine=mirrormaker2).
    type: str
    default: ""
  target_suffix:
    description:
      - Suffix of the target topic names; see O(target_prefix).
    type: str
    default: ""
  rename:
    description:
      - Target topic names for source topics, a dict of source topic to target topic, applied before
        O(target_prefix) and O(target_suffix). Give the same map to M(kafkaops.migration.kafka_topic_sync)
        (which creates the renamed topics), M(kafkaops.migration.kafka_group_sync) and
        M(kafkaops.migration.kafka_client_config).
      - Entries for topics this run does not select are allowed. Each target name must be a legal Kafka topic
        name, neither an internal topic nor O(offset_map_topic).
      - Two source topics with one target name, or a renamed topic landing on another source topic's name, fail
        the task before anything is changed, listing the topics in RV(invalid).
      - The offset map records the target topic of every partition; a source topic already copied into another
        target topic through O(offset_map_topic) is refused (see O(target_prefix)).
      - Not supported with O(engine=mirrormaker2), which keeps the topic names.
    type: dict
    default: {}
  rename_rule:
    description:
      - What happens to a selected topic the O(rename) map does not name and the target refuses (a target with
        O(target.api=alibaba) refuses C(.) under its C(strict) name rule; a Kafka target accepts every name).
      - V(underscore) replaces each refused character by C(_) (C(orders.v1) is copied into C(orders_v1)).
        V(refuse) fails the task listing those topics in RV(invalid). Names longer than the target allows are
        always refused, never truncated.
      - With O(engine=mirrormaker2) and O(target.api=alibaba) no topic can be renamed - a name of O(topics)
        that the target refuses fails the task before anything is changed. Topics selected by O(include)
        patterns are not checked.
    type: str
    choices: [underscore, refuse]
    default: underscore
  mode:
    description:
      - V(snapshot) copies up to the end each partition had when the task started, then stops.
      - V(until_lag) keeps copying until the remaining lag (records on the source not yet copied, summed
        over all partitions, checked every O(interval) seconds) is at most O(max_lag).
      - V(follow) keeps copying new records for O(duration) seconds.
      - Whatever the mode, the task fails with the partial result when O(timeout) runs out; running it
        again resumes.
    type: str
    choices: [snapshot, until_lag, follow]
    default: snapshot
  max_lag:
    description:
      - Remaining lag (records) at which O(mode=until_lag) stops.
    type: int
    default: 0
  duration:
    description:
      - Seconds O(mode=follow) keeps copying.
    type: float
    default: 60.0
  offset_map_topic:
    description:
      - Topic on the target holding the progress records (the offset map). Created when missing, with
        C(cleanup.policy=delete) and C(retention.ms=-1).
      - On a target of C(api=alibaba) it is created through the OpenAPI (CreateTopic) with local storage, one partition
        and the longest retention the service allows (365 days); its name must pass the instance's name rule.
      - Default C(kafkaops.mirror.offsets), or C(kafkaops_mirror_offsets) on a target of C(api=alibaba) (which refuses C(.)).
    type: str
  progress_file:
    description:
      - File the copier rewrites (atomically, about once a second) with its progress as JSON, the same
        fields as the module's result plus C(updated), C(started) (epoch seconds), C(pid), C(process_start)
        (the process's start time in clock ticks since boot), C(host), C(error) when it failed, and
        C(status) (V(running), V(done), V(failed), V(interrupted)). V(interrupted) means the controller
        went away; the partitions' C(next) are then the last committed positions.
      - A file that says V(running) although its process no longer exists (the copier was killed hard)
        is reported in RV(stale_progress) and RV(warnings) and replaced. A file still written by a live
        copier on this host is refused (nothing is changed).
      - Meant for Ansible C(async) runs.
    type: path
  batch_records:
    description:
      - Most records in one transaction.
    type: int
    default: 500000
  batch_bytes:
    description:
      - Most bytes (keys and values) in one transaction; with the client queue limits this bounds the
        copier's memory whatever the data volume.
    type: int
    default: 67108864
  batch_seconds:
    description:
      - Longest time one transaction collects records before it is committed. Longer batches cost
        less per record; a crash loses (and the next run redoes) at most one batch.
    type: float
    default: 5.0
notes:
  - The copier needs C(Describe) and C(Read) on the source topics, C(Write) and C(Describe) on the target
    topics and the offset-map topic, C(Create) on the offset-map topic (or create it beforehand),
    C(Read) on the offset-map topic, and C(Write)/C(Describe) on the C(transactional.id).
  - Copied records keep their timestamps, so the target's time-based retention (C(retention.ms)) and
    segment rolling (C(segment.ms)) judge them by their original time, as on the source. Give the target
    topics the source's retention first (M(kafkaops.migration.kafka_topic_sync)), or old records are
    deleted soon after they are copied.
  - The interval option is used by O(mode=until_lag); O(stable_for) is not used.
  - Controller watch, what was measured (ansible-core 2.19, connection C(local)) - after a C(kill -9) of
    ansible-playbook the module stopped within a second, its progress file said V(interrupted) and the
    target received nothing more. With an SSH connection the ansible-playbook worker and its SSH session
    outlive a kill of ansible-playbook, so nothing changes on the remote host and the copy goes on until
    that session ends or O(timeout) runs out (not measured).
  - Readers of the target (consumers, M(kafkaops.migration.kafka_group_sync)) should use
    C(isolation.level=read_committed); records of an interrupted batch stay on the target as aborted
    records, invisible to them.
seealso:
  - module: kafkaops.migration.kafka_topic_sync
  - module: kafkaops.migration.kafka_group_sync
"""

EXAMPLES = r"""
- name: Copy two topics and all topics starting with orders.
  kafkaops.migration.kafka_mirror:
    source: "{{ kafka_source }}"
    target: "{{ kafka_target }}"
    name: backup
    topics: [payments, invoices]
    include: ['orders\..*']
    mode: snapshot
    timeout: 3600

- name: Keep a backup of every topic under the prefix source. (topic sync created source.orders...)
  kafkaops.migration.kafka_mirror:
    source: "{{ kafka_source }}"
    target: "{{ kafka_target }}"
    name: source-backup
    include: ['.*']
    exclude: ['.*-tmp']
    target_prefix: source.
    offset_map_topic: kafkaops.mirror.offsets.source-backup
    mode: until_lag
    max_lag: 0
    timeout: 3600

- name: Copy orders.v1 into orders-v1 (topic sync got the same rename map and created it)
  kafkaops.migration.kafka_mirror:
    source: "{{ kafka_source }}"
    target: "{{ kafka_target }}"
    name: renamed
    topics: [orders.v1, payments]
    rename:
      orders.v1: orders-v1
    rename_rule: underscore
    mode: snapshot
    timeout: 3600

- name: Copy in the background, polled through the progress file
  kafkaops.migration.kafka_mirror:
    source: "{{ kafka_source }}"
    target: "{{ kafka_target }}"
    name: backup
    include: ['.*']
    mode: until_lag
    max_lag: 1000
    timeout: 86400
    progress_file: /var/tmp/kafka-mirror-backup.json
  async: 86400
  poll: 0
  register: kafka_mirror_job

- name: Keep following new records for ten minutes
  kafkaops.migration.kafka_mirror:
    source: "{{ kafka_source }}"
    target: "{{ kafka_target }}"
    name: backup
    include: ['.*']
    mode: follow
    duration: 600
    timeout: 900
"""

RETURN = r"""
engine:
  description: The engine that ran.
  returned: always
  type: str
  sample: builtin
mode:
  description: The mode that ran.
  returned: engine builtin
  type: str
  sample: snapshot
name:
  description: The copy's name.
  returned: engine builtin
  type: str
  sample: backup
transactional_id:
  description: The target C(transactional.id) the copier used.
  returned: engine builtin
  type: str
  sample: kafkaops-mirror-backup
offset_map_topic:
  description: The offset-map topic on the target.
  returned: engine builtin
  type: str
  sample: kafkaops.mirror.offsets
offset_map_created:
  description: Whether this run created the offset-map topic.
  returned: engine builtin
  type: bool
  sample: false
topics:
  description: The source topics selected.
  returned: engine builtin
  type: list
  elements: str
  sample: [invoices, orders.eu, payments]
records:
  description:
    - Records copied by this run.
    - In check mode, the offsets that would be copied (an upper bound).
  returned: engine builtin
  type: int
  sample: 120000
bytes:
  description: Bytes (keys and values) copied by this run.
  returned: engine builtin
  type: int
  sample: 61440000
transactions:
  description: Transactions committed by this run.
  returned: engine builtin
  type: int
  sample: 12
rollbacks:
  description:
    - Batches rolled back and copied again because another producer wrote into a target partition among
      the copier's records (after the first, every record gets its own delivery report).
  returned: engine builtin, except in check mode
  type: int
  sample: 0
lag:
  description:
    - Engine builtin, an integer - offsets between each partition's copy position and its end (last seen), summed.
    - Engine mirrormaker2, a dict - C(total) and per-partition C(partitions) rows (C(topic), C(partition),
      C(log_end_offset), C(next_offset), C(lag)) from the offsets the source connector committed; null when
      the worker reports none yet.
  returned: always
  type: raw
  sample: 0
duration:
  description: Seconds the task ran.
  returned: always
  type: float
  sample: 12.5
connect:
  description: The Kafka Connect REST API the mirrormaker2 engine talked to (C(url), C(version), C(commit), C(kafka_cluster_id)).
  returned: engine mirrormaker2
  type: dict
  sample: {"url": "http://connect:8083", "version": "4.3.1", "commit": "abc", "kafka_cluster_id": "Xy"}
connectors:
  description:
    - Engine mirrormaker2, per connector name - C(kind), C(action) (create, update, delete, none), C(state),
      C(worker_id) and C(tasks) (each C(id), C(state), C(worker_id), C(trace)).
  returned: engine mirrormaker2
  type: dict
  sample: {"kafkaops-mm2-source": {"kind": "source", "action": "create", "state": "RUNNING", "worker_id": "w:8083",
           "tasks": [{"id": 0, "state": "RUNNING", "worker_id": "w:8083", "trace": null}]}}
exactly_once:
  description: Whether the mirrormaker2 engine's source connector runs exactly-once.
  returned: engine mirrormaker2
  type: bool
  sample: true
rate:
  description: Average throughput of this run.
  returned: engine builtin
  type: dict
  contains:
    records_per_second:
      description: Records per second.
      type: float
    mb_per_second:
      description: Megabytes (10^6 bytes) of keys and values per second.
      type: float
  sample: {"records_per_second": 9600.0, "mb_per_second": 4.9}
target_topics:
  description:
    - Source topic -> target topic it is copied into (O(target_prefix) + its name after O(rename) and
      O(rename_rule) + O(target_suffix)).
  returned: engine builtin
  type: dict
  sample: {"orders": "source.orders"}
renamed:
  description:
    - Source topics whose target name differs from their own (by O(rename), or by O(rename_rule) for a target
      with O(target.api=alibaba)), with that name before O(target_prefix) and O(target_suffix); empty when
      none is renamed.
  returned: engine builtin
  type: dict
  sample: {"orders.v1": "orders-v1"}
invalid:
  description:
    - Per source topic, why its target name is refused (by the target's name rule) or collides with another;
      nothing was changed.
  returned: when those names fail the task
  type: dict
  sample: {"orders.v1": "target topic 'payments' would be the target of 'payments' too: give them distinct names in the rename map"}
target_prefix:
  description: The O(target_prefix) used.
  returned: engine builtin
  type: str
  sample: source.
target_suffix:
  description: The O(target_suffix) used.
  returned: engine builtin
  type: str
  sample: ""
missing_target_topics:
  description: In check mode, target topics that do not exist yet (topic sync would create them); all their
    source records count as to be copied.
  returned: check mode, engine builtin
  type: list
  elements: str
  sample: [source.orders]
stale_progress:
  description:
    - The previous content of O(progress_file) when it said V(running) although its copier no longer
      existed (C(pid), C(host), C(started), C(updated), C(records), C(name)); null otherwise. The file
      is replaced (not in check mode).
  returned: engine builtin
  type: dict
  sample: {"pid": 4242, "host": "ctl1", "started": 1764300000, "updated": 1764300100, "records": 5000,
           "name": "backup"}
interrupted_reason:
  description: Why the copy stopped early because its controller was gone (for example
    C(the parent 4100 of process 4180 (...) is gone)); null otherwise. Only in a failed result, with
    RV(status=interrupted) and C(interrupted=true).
  returned: engine builtin
  type: str
  sample: null
partitions:
  description: Progress of each selected source partition.
  returned: engine builtin
  type: list
  elements: dict
  contains:
    topic:
      description: Source topic.
      type: str
    target_topic:
      description: Target topic the partition is copied into (same partition number).
      type: str
    partition:
      description: Partition number (the same on the target).
      type: int
    start:
      description: Source offset this run started from.
      type: int
    next:
      description: Next source offset to copy.
      type: int
    end:
      description: End offset (last stable offset) of the source partition when last looked at.
      type: int
    copied:
      description: Records copied from this partition by this run.
      type: int
    bytes:
      description: Bytes copied from this partition by this run.
      type: int
    lag:
      description: RV(partitions[].end) minus RV(partitions[].next), at least 0.
      type: int
    resumed:
      description: Whether the offset map had a resume point for this partition.
      type: bool
  sample: [{"topic": "orders", "target_topic": "orders", "partition": 0, "start": 0, "next": 500, "end": 500,
            "copied": 500, "bytes": 256000, "lag": 0, "resumed": false}]
partitions_to_copy:
  description: In check mode, how many partitions have records to copy.
  returned: check mode, engine builtin
  type: int
  sample: 3
warnings:
  description: Things that limit the copy's fidelity (LogAppendTime topics, compaction differences, another
    writer on a target partition; for mirrormaker2, a worker without exactly-once support), include patterns
    that match no topic, a stale progress file replaced, target topics that topic sync would create (check mode).
  returned: always
  type: list
  elements: str
  sample: []
status:
  description: V(done) or V(check_mode); in a failed result V(failed), or V(interrupted) when the controller
    was gone (see RV(interrupted_reason)).
  returned: engine builtin
  type: str
  sample: done
"""

import os

from ansible_collections.kafkaops.migration.plugins.module_utils import args
from ansible_collections.kafkaops.migration.plugins.module_utils.admin import ensure_distinct, view_of
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import KafkaOpsError
from ansible_collections.kafkaops.migration.plugins.module_utils.mirror import (
    MIRROR_OPTION_SPEC,
    check_params,
    diff_of,
    mirrormaker2_problem,
    params_with_defaults,
    run_mirror,
)
from ansible_collections.kafkaops.migration.plugins.module_utils.mm2 import MM2_OPTION_SPEC, run_mirrormaker2
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline


def argument_spec():
    spec = args.source_target_argument_spec()
    spec.update(args.wait_argument_spec(timeout=600.0))
    spec.update(MIRROR_OPTION_SPEC)
    spec["engine"] = dict(type="str", default="builtin", choices=["builtin", "mirrormaker2"])
    spec["mirrormaker2"] = dict(type="dict", options=MM2_OPTION_SPEC)
    return spec


def main():
    module = args.KafkaModule(argument_spec=argument_spec(), supports_check_mode=True)
    deadline = Deadline(module.params["timeout"])
    engine = module.params["engine"]
    params = dict((k, module.params[k]) for k in MIRROR_OPTION_SPEC)
    try:
        if engine == "mirrormaker2":
            # IdentityReplicationPolicy: no prefix, suffix or rename
            mirrormaker2_problem(params, module.params["target"])
        else:
            check_params(params_with_defaults(params))
    except KafkaOpsError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    source, target = args.clusters(module, ["source", "target"], deadline)
    views = view_of(source), view_of(target)  # the admin layer's reads (each cluster described once)
    try:
        # One cluster given twice (two spellings of its address) is refused before anything else.
        ensure_distinct(*views)
        if engine == "mirrormaker2":
            result = run_mirrormaker2(module.params, source, target, deadline, module.check_mode)
        else:
            if params.get("progress_file"):
                params["progress_file"] = os.path.abspath(params["progress_file"])
            result = run_mirror(params, views[0], views[1], deadline, check_mode=module.check_mode, distinct_checked=True)
    except KafkaOpsError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    for warning in result.get("warnings") or []:
        module.warn(warning)
    if engine == "builtin" and module._diff:
        result["diff"] = diff_of(result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
