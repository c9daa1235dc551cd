#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kafka_group_sync
short_description: Create consumer groups on the target cluster with committed offsets where they must start
version_added: 0.1.0
description:
  - Commits, on the O(target) cluster, an offset for every partition of the topics each consumer group
    consumes, so that new consumers of the group start at a defined place whatever their
    C(auto.offset.reset) says (procedure steps 4 and 6).
  - The groups and their topics come from the committed offsets on the O(source) cluster, or from O(groups).
  - Where each group starts is set by a policy, for all groups (O(policy)), per group (O(groups[].policy))
    or per group and topic (O(groups[].topic_policies)).
  - The O(source) and O(target) are compared by cluster id (DescribeCluster) before anything else is
    read; one cluster given twice (for example as V(localhost:9092) and V(127.0.0.1:9092)) fails the task
    and nothing is read or written.
  - Everything is read and validated first; if any group, topic or offset is wrong the task fails and
    nothing is changed on the target.
  - Never rewinds. Only partitions the target group has no committed offset for are written. A partition
    the group already committed on the target (its consumers ran there, or an earlier run placed it) is
    left as it is and reported with status V(kept), with its C(current_offset) and the C(offset) the
    policy would give, unless O(overwrite=true) (or O(groups[].overwrite=true) for that group). So a
    second run, also one after the cutover while the new consumers are stopped, changes nothing.
  - Kafka only lets the offsets of a group be altered while it has no active members. A group with
    members on the target is never forced; it is left alone and listed in RV(active_groups) (status
    V(skipped_active)), or the task fails with O(fail_on_active=true).
  - "Check mode previews a fresh set-up: a topic of a group that does not exist on the target yet but
    exists on the source is planned as M(kafkaops.migration.kafka_topic_sync) would create it (the
    source's partition count, an empty log, so every policy gives offset 0), each partition marked
    C(target_topic_missing) and C(would be created by topic sync), with a warning. Outside check mode a
    missing topic fails the task before anything is changed."
  - With O(policy=translate) in check mode and no offset map yet (the copy has not run), each partition is
    planned with its O(fallback) and a warning says the copy has not run yet; the real run still needs
    the offset map.
author: kafkaops.migration contributors (@kafkaops)
extends_documentation_fragment:
  - kafkaops.migration.connection
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - Shows, per group, topic and partition, the committed offset on the target before and after, for
        the partitions written.
      - Partitions kept at an offset other than the policy's are listed as not changed, with both offsets.
        Ansible prints a task's diff only when the task changed something; in a run that changes nothing
        every partition is in RV(groups) with its status (V(kept)).
  platform:
    platforms: all
options:
  groups:
    description:
      - The groups to create or update on the target, with optional per-group settings.
      - When omitted, every consumer group of the source that matches O(group_pattern) is synced with
        the topics it has committed offsets for. The groups of this collection's own clients (ids
        starting with C(kafkaops-migration-) or C(kafkaops-mirror-)) and groups without committed
        offsets are left out.
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - Consumer group id (the same on both clusters).
        type: str
        required: true
      topics:
        description:
          - Topics of the group. Every partition of each topic on the target gets a committed offset.
          - When omitted, the topics the source group has committed offsets for.
        type: list
        elements: str
      policy:
        description:
          - Policy for this group; overrides O(policy).
        type: str
        choices: [earliest, latest, translate, timestamp]
      timestamp:
        description:
          - Timestamp for policy V(timestamp) in this group; overrides O(timestamp).
        type: raw
      fallback:
        description:
          - Fallback for this group; overrides O(fallback).
        type: str
        choices: [earliest, latest, fail]
      topic_policies:
        description:
          - Per-topic overrides within this group.
        type: list
        elements: dict
        suboptions:
          topic:
            description:
              - Topic the settings apply to.
            type: str
            required: true
          policy:
            description:
              - Policy for this topic of this group.
            type: str
            choices: [earliest, latest, translate, timestamp]
          timestamp:
            description:
              - Timestamp for policy V(timestamp).
            type: raw
          fallback:
            description:
              - Fallback for policy V(translate).
            type: str
            choices: [earliest, latest, fail]
      overwrite:
        description:
          - Rewrite the partitions this group already committed on the target whose offset differs from
            the policy's (status V(overwritten)); overrides O(overwrite).
          - This can move the group's consumers back (records processed again) or forward (records never
            processed); use it only to correct a group whose consumers have not run on the target.
        type: bool
  group_pattern:
    description:
      - Without O(groups), only the source groups whose id matches this regular expression (searched
        anywhere in the id) are synced.
    type: str
  policy:
    description:
      - Where the groups start on the target, unless overridden per group or topic.
      - V(earliest) is the target log start offset; the usual choice before any data was copied and
        while the producers still write to the source.
      - V(latest) is the target log end (the last stable offset, so records of an open transaction
        are not skipped).
      - V(translate) is the target offset of the first record the source group has not consumed yet,
        read from the offset map that the data copy (M(kafkaops.migration.kafka_mirror)) keeps; see
        O(offset_map_topic) and O(offset_map_file). The translated offset must lie within the target
        log. Where the map alone cannot tell (a committed source offset below the first copied record,
        or past the point the copy has read to), the source log is read once (C(read_committed)) -
        if only aborted records, transaction markers or compacted offsets lie in between, the group
        starts at the next copied record; if records the group has not processed were never copied, or
        records it has processed are not copied yet, the task fails instead of guessing.
      - V(timestamp) is the first target offset whose record timestamp is at or after O(timestamp),
        or the log end when there is none.
    type: str
    choices: [earliest, latest, translate, timestamp]
    default: earliest
  timestamp:
    description:
      - Time for policy V(timestamp), as milliseconds since the epoch or an ISO 8601 date-time with a
        time zone (for example V(2026-11-28T06:00:00Z)).
    type: raw
  fallback:
    description:
      - What partitions get when the policy is V(translate) and the source group has no committed
        offset there; V(earliest), V(latest), or V(fail) the task.
      - The result states, per partition, when the fallback was used.
      - The other policies do not depend on the source group's offsets.
    type: str
    choices: [earliest, latest, fail]
    default: earliest
  offset_map_topic:
    description:
      - Topic on the target cluster holding the offset map, read with C(read_committed).
      - Ignored when O(offset_map_file) is given.
      - Default C(kafkaops.mirror.offsets), or C(kafkaops_mirror_offsets) on a target of C(api=alibaba), as
        M(kafkaops.migration.kafka_mirror) names it.
    type: str
  offset_map_file:
    description:
      - "JSON checkpoint file with the offset map (C({\"format\": 1, \"partitions\": [...]})), used
        instead of O(offset_map_topic)."
    type: path
  overwrite:
    description:
      - For every group without its own O(groups[].overwrite), rewrite the partitions the group already
        committed on the target whose offset differs from the policy's.
      - By default (V(false)) a partition the target group committed is never changed (status V(kept)) -
        the task never rewinds a consumer, and never moves it past records it has not processed.
    type: bool
    default: false
  rename:
    description:
      - Target topic names for source topics (source topic to target topic), the same map given to
        M(kafkaops.migration.kafka_topic_sync) and M(kafkaops.migration.kafka_mirror) - each group's offsets are
        set on the renamed topic.
      - Where the copy's offset map names the target topic of a source topic, it must agree with this map, or the
        task fails before anything is changed.
    type: dict
    default: {}
  rename_rule:
    description:
      - For a topic the O(rename) map does not name and the target refuses (O(target.api=alibaba)), the same
        rule as M(kafkaops.migration.kafka_topic_sync)'s; V(underscore) gives C(orders.v1) the target topic
        C(orders_v1), V(refuse) keeps the name (which then fails as a missing topic).
    type: str
    choices: [underscore, refuse]
    default: underscore
  fail_on_active:
    description:
      - Fail, changing nothing, when a group has active members on the target. By default such
        groups are left alone and listed in RV(active_groups).
    type: bool
    default: false
notes:
  - The source group's committed offsets are read with C(require_stable), so offsets committed
    inside an open transaction are settled first.
  - Topics keep their names on the target unless the offset map names another C(target_topic), O(rename) gives
    another name, or the target refuses the name (O(rename_rule)).
  - "On a target with O(target.api=alibaba) (ApsaraMQ for Kafka), the groups the instance does not list
    (GetConsumerList) are created through its OpenAPI (CreateConsumerGroup, one call per group at
    O(target.alibaba.rate_limit)) before any offset is set, and listed in RV(created_groups); where they start
    is then set over the Kafka protocol, as on any target. A group name the instance refuses fails the task
    before anything is changed: renaming a group would change the application's C(group.id)."
  - The result never uses a key Ansible reserves; groups left alone because of active members are in
    RV(active_groups) (a key named C(skipped) would make Ansible report the whole task as skipped).
  - Every describe and list call covers all groups and partitions at once; offsets are altered with one
    call per group (the Kafka API takes one group per request), all issued concurrently.
seealso:
  - module: kafkaops.migration.kafka_lag_wait
  - module: kafkaops.migration.kafka_mirror
"""

EXAMPLES = r"""
- name: Step 4 - create every source group on the target at the start of the (still empty) topics
  kafkaops.migration.kafka_group_sync:
    source: "{{ kafka_source }}"
    target: "{{ kafka_target }}"
    policy: earliest

- name: Step 6 - start the groups where they stopped on the source, through the offset map
  kafkaops.migration.kafka_group_sync:
    source: "{{ kafka_source }}"
    target: "{{ kafka_target }}"
    policy: translate
    fallback: fail
    fail_on_active: true
    groups:
      - name: billing
      - name: audit
        topics: [orders, payments]
        topic_policies:
          - topic: payments
            policy: timestamp
            timestamp: "2026-11-28T06:00:00Z"

- name: Re-run after the cutover - partitions the new consumers committed are kept, nothing changes
  kafkaops.migration.kafka_group_sync:
    source: "{{ kafka_source }}"
    target: "{{ kafka_target }}"
    policy: earliest
  register: groups_again

- name: Correct one group whose consumers never ran on the target (check mode first)
  kafkaops.migration.kafka_group_sync:
    source: "{{ kafka_source }}"
    target: "{{ kafka_target }}"
    policy: latest
    groups:
      - name: reporting
        overwrite: true
  check_mode: true
  diff: true

- name: Translate from a checkpoint file exported by the data copy, showing the changes first
  kafkaops.migration.kafka_group_sync:
    source: "{{ kafka_source }}"
    target: "{{ kafka_target }}"
    group_pattern: "^shop-"
    policy: translate
    offset_map_file: /var/lib/kafkaops/offset-map.json
  check_mode: true
  diff: true
  register: plan
"""

RETURN = r"""
created_groups:
  description: Groups created (in check mode, that would be) through the OpenAPI of a target with O(target.api=alibaba).
  returned: when O(target.api=alibaba)
  type: list
  elements: str
  sample: [billing]
renamed:
  description: The source topics whose target topic has another name, and that name.
  returned: when a topic is renamed
  type: dict
  sample: {orders.v1: orders_v1}
api_calls:
  description: OpenAPI calls made (C(calls)), throttling answers retried (C(throttled)), the rate limit and the seconds waited for it.
  returned: when O(target.api=alibaba)
  type: dict
  sample: {calls: 3, throttled: 0, rate_limit: 1.0, rate_limit_wait: 1.9}
groups:
  description: Every group considered, with what was (or, in check mode, would be) committed.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Group id.
      type: str
    status:
      description:
        - V(changed) (partitions written), V(unchanged) (nothing written - every partition kept or already
          at its offset), V(skipped_active) (members on the target, left alone, also listed in
          RV(active_groups)) or V(failed).
      type: str
    overwrite:
      description: Whether partitions the group already committed on the target may be rewritten.
      type: bool
    kept_partitions:
      description: How many partitions have status V(kept).
      type: int
    source_state:
      description: State of the group on the source (for example V(EMPTY), V(STABLE), V(DEAD)).
      type: str
    target_state:
      description: State of the group on the target before the change.
      type: str
    target_members:
      description: Number of active members on the target.
      type: int
    partitions:
      description: One entry per partition of the group's topics on the target.
      type: list
      elements: dict
      contains:
        topic:
          description: Target topic.
          type: str
        partition:
          description: Partition number.
          type: int
        policy:
          description: The policy configured for this group and topic.
          type: str
        source_offset:
          description: The source group's committed offset, or null when it has none.
          type: int
        current_offset:
          description: The committed offset on the target before the change, or null.
          type: int
        offset:
          description:
            - The offset the policy gives. It is committed when RV(groups[].partitions[].changed) is true;
              for a V(kept) partition it is only reported.
            - Null when the policy cannot place it (RV(groups[].partitions[].error)) or, in check mode, when
              only the copy can say (V(translate-pending)).
          type: int
        status:
          description:
            - V(set) - the target group had no committed offset here; RV(groups[].partitions[].offset) is
              (or in check mode would be) committed.
            - V(kept) - the target group already committed it; left as it is (never rewound, never moved
              forward) because overwrite is off. Both offsets are shown.
            - V(overwritten) - overwrite is on and the committed offset differed; rewritten.
            - V(unchanged) - overwrite is on and the committed offset already is the policy's.
            - V(skipped_active) - it would be written, but the group has members on the target.
          type: str
        how:
          description:
            - What decided the offset. V(earliest), V(latest), V(timestamp), V(timestamp-none-after) (no
              record that recent, log end), V(translate-mapped) (the record was copied),
              V(translate-gap) (the next records were never copied - compacted, aborted or markers - so
              the next copied one), V(translate-after_copied) (the group had consumed everything copied),
              V(fallback-earliest) or V(fallback-latest), V(translate-pending) (check mode, no offset map
              yet and O(fallback=fail)), V(error) (a kept partition the policy cannot place).
          type: str
        fallback:
          description:
            - True when O(fallback) decided the offset - the source group had no committed offset, or (check
              mode) there is no offset map yet.
          type: bool
        changed:
          description: Whether this partition's committed offset changes.
          type: bool
        target_topic_missing:
          description:
            - Check mode only - the topic does not exist on the target yet and is planned as topic sync
              would create it (the source's partition count, an empty log).
          type: bool
          returned: when true
        note:
          description: V(would be created by topic sync) for the partitions of such a topic.
          type: str
          returned: when RV(groups[].partitions[].target_topic_missing) is true
        offset_map_missing:
          description: Check mode only - planned with the fallback because the copy has not written the offset map yet.
          type: bool
          returned: when true
        error:
          description: Why the policy cannot place a V(kept) partition (reported as a warning; nothing is written there).
          type: str
          returned: when the policy cannot place a kept partition
        log_start:
          description: Target log start offset.
          type: int
        log_end:
          description: Target log end offset (high watermark).
          type: int
  sample:
    - name: billing
      status: changed
      overwrite: false
      kept_partitions: 1
      source_state: EMPTY
      target_state: EMPTY
      target_members: 0
      partitions:
        - {topic: orders, partition: 0, policy: translate, source_offset: 1200, current_offset: null,
           offset: 1215, how: translate-mapped, fallback: false, status: set, changed: true, log_start: 0,
           log_end: 1300}
        - {topic: orders, partition: 1, policy: translate, source_offset: 40, current_offset: 61,
           offset: 17, how: translate-mapped, fallback: false, status: kept, changed: false, log_start: 0,
           log_end: 70}
active_groups:
  description: Groups left alone because they have active members on the target (status V(skipped_active)).
  returned: always
  type: list
  elements: str
  sample: [reporting]
diff:
  description:
    - Per group, topic and partition, the committed offsets before and after (written partitions only).
    - C(prepared) lists the partitions kept at an offset other than the policy's, as not changed.
  returned: when diff mode is on
  type: dict
  sample:
    before: {billing: {}}
    after: {billing: {orders: {"0": 1215}}}
    prepared: "partitions already committed on the target, left as they are: billing orders:1 kept at 61 (not changed; ...)"
"""

from ansible_collections.kafkaops.migration.plugins.module_utils import admin, args
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import KafkaOpsError
from ansible_collections.kafkaops.migration.plugins.module_utils.groups import FALLBACKS, POLICIES, sync_groups
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline


def argument_spec():
    spec = args.source_target_argument_spec()
    topic_policy = dict(
        topic=dict(type="str", required=True),
        policy=dict(type="str", choices=list(POLICIES)),
        timestamp=dict(type="raw"),
        fallback=dict(type="str", choices=list(FALLBACKS)),
    )
    group = dict(
        name=dict(type="str", required=True),
        topics=dict(type="list", elements="str"),
        policy=dict(type="str", choices=list(POLICIES)),
        timestamp=dict(type="raw"),
        fallback=dict(type="str", choices=list(FALLBACKS)),
        topic_policies=dict(type="list", elements="dict", options=topic_policy),
        overwrite=dict(type="bool"),
    )
    spec.update(
        groups=dict(type="list", elements="dict", options=group),
        group_pattern=dict(type="str"),
        policy=dict(type="str", default="earliest", choices=list(POLICIES)),
        timestamp=dict(type="raw"),
        fallback=dict(type="str", default="earliest", choices=list(FALLBACKS)),
        offset_map_topic=dict(type="str"),
        offset_map_file=dict(type="path"),
        overwrite=dict(type="bool", default=False),
        fail_on_active=dict(type="bool", default=False),
        rename=dict(type="dict", default={}),
        rename_rule=dict(type="str", default="underscore", choices=["underscore", "refuse"]),
    )
    return spec


def main():
    module = args.KafkaModule(argument_spec=argument_spec(), supports_check_mode=True,
                              mutually_exclusive=[("groups", "group_pattern")])
    deadline = Deadline(module.params["timeout"])
    source, target = args.clusters(module, ["source", "target"], deadline)
    try:
        # Two clusters, compared by cluster id (never by how their addresses are spelled), before
        # anything else is read; this also checks reachability and credentials, bounded.
        admin.ensure_distinct(source, target)
        result = sync_groups(source, target, module.params, check_mode=module.check_mode)
    except KafkaOpsError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    diff = result.pop("diff", None)
    for warning in result.pop("warnings", []):
        module.warn(warning)
    if module._diff and diff is not None:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
