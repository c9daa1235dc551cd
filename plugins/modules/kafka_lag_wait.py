#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kafka_lag_wait
short_description: Wait until consumer groups have consumed everything on a cluster, or until topics go idle
version_added: 0.1.0
author: kafkaops.migration contributors (@kafkaops)
description:
  - Step 8 of the migration procedure. Waits until the named consumer groups (the old consumers, on the
    source) have consumed everything, so that they can be stopped without leaving records behind.
  - A group is drained when, on every partition, nothing after its committed offset can ever be delivered
    to it. The naive lag (log end minus committed offset) never reaches 0 on transactional topics, because the
    log end counts the commit and abort markers and the records of aborted transactions, which no consumer
    receives. The lag is therefore measured against the last offset a consumer can actually reach - the last
    stable offset for O(isolation_level=read_committed) - and the offsets between the committed offset and that
    end are read once with a consumer of the same isolation level that never commits (the probe); a partition
    whose remaining offsets hold only markers, aborted records or compacted gaps is drained (lag 0). What a probe
    proves is kept for the whole wait, so each range is read at most once.
  - A partition after whose committed offset a transaction is still open is never drained (status
    C(open_transaction)), as its records may still be committed.
  - This lag is the collection's one lag definition; M(kafkaops.migration.kafka_spec_facts) reports the same
    figure for every group, and the MirrorMaker 2 engine of M(kafkaops.migration.kafka_mirror) for the copy.
  - The topics considered are the given O(topics) and those O(include) selects, or else the topics a group has
    committed offsets for or is assigned to (minus O(exclude)); all their partitions count, and a partition the
    group never committed on is measured from the log start.
  - Every poll reads the cluster with a few batched calls - the committed offsets of every group (one request
    per group, all sent at once), one DescribeTopics request for the topics considered, and one ListOffsets request per offset kind (log end,
    last stable offset, log start where a group has no commit) covering all partitions.
  - O(until=idle) waits instead until the given O(topics) receive no new writes - their log ends do not move
    for O(stable_for) seconds - to make sure the producers are gone.
  - O(until=members) waits until every group in O(groups) is C(STABLE) with at least O(min_members) members -
    the Kafka proof that a consumer which was just started has joined its group (one DescribeGroups call per
    poll). A group the cluster does not know yet is waited for.
  - O(until=written) waits until records with a timestamp at or after O(since) have reached the O(topics) - the
    Kafka proof that a producer started at O(since) writes to this cluster (one ListOffsets call by timestamp and
    one for the log ends per poll). The timestamps are the producers' (C(CreateTime)) unless the topic uses
    C(LogAppendTime); clocks of the application hosts and the brokers should agree within a second or so.
  - On timeout the task fails with the partial result - per group and partition lag and status, the last
    progress seen and the history of (time, total lag) samples - and a message naming the groups not drained.
  - The module only reads the cluster, so it runs normally in check mode and never reports a change.
options:
  groups:
    description:
      - Consumer groups to wait for. Required with O(until=drained) and O(until=members), not allowed with O(until=idle)
        and O(until=written).
      - An unknown group (no members and no committed offsets) fails the task at once, except with O(until=members).
    type: list
    elements: str
    default: []
  topics:
    description:
      - Topics to consider. With O(until=drained), every partition of these topics counts for every group in
        O(groups), committed or not; when omitted, each group's committed and assigned topics are used.
      - Required with O(until=idle) and O(until=written), unless O(include) is given. A topic that does not exist
        fails the task at once.
      - These are exact topic names. For patterns use O(include).
    type: list
    elements: str
  include:
    description:
      - Regular expressions (Python) of topics to consider in addition to O(topics), each matched against the
        B(whole) topic name (C(re.fullmatch)), as in every module of the collection. Internal topics are never
        selected. They are resolved once, when the task starts, into exact names that then count like O(topics).
      - A list that selects no topic fails the task at once.
    type: list
    elements: str
  exclude:
    description:
      - Regular expressions (whole-name match) of topics left out of O(include), and of the topics the groups
        committed on or are assigned to when neither O(topics) nor O(include) is given. Names in O(topics)
        are always considered.
    type: list
    elements: str
    default: []
  until:
    description:
      - V(drained) waits until every group's lag is at most O(max_lag) on every partition.
      - V(idle) waits until the log end of every partition of O(topics) stays unchanged for O(stable_for)
        seconds. At least two polls are always compared, so it takes at least O(interval) seconds.
      - V(members) waits until every group in O(groups) is C(STABLE) with at least O(min_members) members.
      - V(written) waits until at least O(min_records) records written at or after O(since) are on O(topics).
    type: str
    choices: [drained, idle, members, written]
    default: drained
  max_lag:
    description:
      - Largest lag per partition still accepted as done. The lag is an upper bound of the records a group has
        left (exact on topics without transactions or compaction), and 0 once nothing is left.
    type: int
    default: 0
  isolation_level:
    description:
      - Isolation level of the groups' consumers. With V(read_committed) records of aborted transactions are
        not counted; with V(read_uncommitted) they are, as such consumers receive them.
    type: str
    choices: [read_committed, read_uncommitted]
    default: read_committed
  since:
    description:
      - With O(until=written), the time (epoch milliseconds) from which records count, typically the
        C(started_at) that M(kafkaops.migration.kafka_service) returned for the producer's start.
      - Required with O(until=written), not allowed otherwise.
    type: int
  min_members:
    description:
      - With O(until=members), the members each group needs.
    type: int
    default: 1
  min_records:
    description:
      - With O(until=written), the records written since O(since) needed over all O(topics).
    type: int
    default: 1
  history_file:
    description:
      - Write the samples to this JSON file, rewritten after every poll (also in check mode and when the task fails),
        so that a report can chart the lag.
      - 'Format: C({"format": "kafkaops.migration.lag_history", "version": 1, "cluster", "until", "groups",
        "topics", "isolation_level", "max_lag", "interval", "stable_for", "timeout", "started", "finished",
        "outcome": "running|drained|idle|timeout|error", "samples": [...]}), where each sample is
        C({"time": ISO 8601 UTC, "elapsed": seconds, "total_lag": int or null, "lag": {group: int},
        "log_end": sum of the log ends}).'
      - The folder must exist.
    type: path
extends_documentation_fragment:
  - kafkaops.migration.wait
  - kafkaops.migration.connection.cluster
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads the cluster; it runs the same way in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - The probe reads at most the offsets between a group's committed offset and the end, stops at the first
    record it can deliver, never joins a group and never commits.
  - O(timeout) (default 600 seconds) bounds the whole task, connecting included.
seealso:
  - module: kafkaops.migration.kafka_group_sync
  - module: kafkaops.migration.kafka_mirror
"""

EXAMPLES = r"""
- name: Wait until the old consumers have consumed everything on the source (lag 0 for a minute)
  kafkaops.migration.kafka_lag_wait:
    cluster:
      bootstrap_servers: ["kafka-old-1:9092", "kafka-old-2:9092"]
    groups: [billing, shipping]
    stable_for: 60
    interval: 10
    timeout: 3600
    history_file: /var/tmp/lag-history.json
  register: kafka_lag

- name: Wait for two topics only, accepting up to 10 records left per partition
  kafkaops.migration.kafka_lag_wait:
    cluster:
      bootstrap_servers: ["kafka-old-1:9092"]
    groups: [billing]
    topics: [orders, payments]
    max_lag: 10
    timeout: 300

- name: Wait until nothing writes to the source topics any more (the producers have switched)
  kafkaops.migration.kafka_lag_wait:
    cluster:
      bootstrap_servers: ["kafka-old-1:9093"]
      security_protocol: SASL_SSL
      sasl_mechanism: SCRAM-SHA-512
      sasl_username: migration
      sasl_password: "{{ vault_kafka_password }}"
      ssl_ca_location: /etc/kafka/ca.pem
    until: idle
    topics: [orders, payments]
    stable_for: 30
    interval: 5

- name: Prove that the new consumer joined its group on the target
  kafkaops.migration.kafka_lag_wait:
    cluster: "{{ kafka_target }}"
    until: members
    groups: [billing]
    interval: 1
    timeout: 60

- name: Prove that a producer started at started_at writes to the target
  kafkaops.migration.kafka_lag_wait:
    cluster: "{{ kafka_target }}"
    until: written
    topics: [orders]
    since: "{{ producer_start.started_at }}"
    interval: 1
    timeout: 60

- name: Wait until the old consumers drained every orders.* topic except the retry ones
  kafkaops.migration.kafka_lag_wait:
    cluster:
      bootstrap_servers: ["kafka-old-1:9092"]
    groups: [billing]
    include: ['orders\..*']
    exclude: ['.*\.retry']
"""

RETURN = r"""
outcome:
  description: V(drained), V(idle), V(members) or V(written) when the wait succeeded, V(timeout) in the failed result
    of a timeout.
  returned: always
  type: str
  sample: drained
drained:
  description: Whether the groups were drained (O(until=drained)).
  returned: always
  type: bool
  sample: true
idle:
  description: Whether the topics went idle (O(until=idle)).
  returned: always
  type: bool
  sample: false
members:
  description: Whether the groups had their members (O(until=members)); the per-group C(state), C(members),
    C(clients), C(assigned_topics) and C(joined) are in RV(groups).
  returned: always
  type: bool
  sample: false
written:
  description: With O(until=written), the records found written at or after O(since) over all topics at the
    last poll (per topic and partition in RV(topics)); null otherwise.
  returned: always
  type: int
  sample: 42
since:
  description: The O(since) option.
  returned: always
  type: int
  sample: 1764633600000
duration:
  description: Seconds the task took, connecting included.
  returned: always
  type: float
  sample: 12.4
polls:
  description: Number of completed polls.
  returned: always
  type: int
  sample: 3
total_lag:
  description: Sum of the lag over all groups and partitions at the last poll; null with O(until=idle).
  returned: always
  type: int
  sample: 0
last_progress:
  description: Seconds after the start at which a committed offset last moved; null when none moved during the wait.
  returned: always
  type: float
  sample: 4.1
last_write:
  description: Seconds after the start at which a log end last moved; null when nothing was written during the wait.
  returned: always
  type: float
  sample: null
last_error:
  description: The last error of a poll that failed after the first one (polls go on until the timeout), or null.
  returned: always
  type: str
  sample: null
groups:
  description: Per group, at the last poll. With O(until=members), each group has C(state), C(members), C(clients),
    C(assigned_topics) and C(joined) only.
  returned: always
  type: dict
  sample:
    billing:
      state: EMPTY
      lag: 0
      drained: true
      partitions_behind: 0
      last_progress: 4.1
      ignored_topics: []
      partitions:
        - topic: orders
          partition: 0
          committed: 1200
          log_end: 1203
          stable_end: 1203
          lag: 0
          status: drained
          last_progress: 4.1
  contains:
    state:
      description: Group state when the wait started (C(EMPTY), C(STABLE), ...).
      type: str
    lag:
      description: Sum of the partitions' lag.
      type: int
    drained:
      description: Whether every partition's lag is at most O(max_lag).
      type: bool
    partitions_behind:
      description: Number of partitions whose lag is above O(max_lag).
      type: int
    last_progress:
      description: Seconds after the start at which one of the group's committed offsets last moved, or null.
      type: float
    ignored_topics:
      description: Topics the group committed offsets for that no longer exist.
      type: list
      elements: str
    partitions:
      description:
        - One entry per partition with C(topic), C(partition), C(committed) (null without a commit, then
          C(log_start) is given), C(log_end), C(stable_end) (the last stable offset, with O(isolation_level=read_committed)),
          C(lag), C(status) and C(last_progress); C(error) when a read failed.
        - C(status) is C(drained) (lag 0), C(behind) (a record the group will receive lies ahead),
          C(open_transaction) (only records of a still open transaction lie ahead) or C(unknown) (not decided yet).
      type: list
      elements: dict
topics:
  description: Per topic, at the last poll, C(log_end) (sum over partitions), C(last_write) (seconds after the start
    at which a log end last moved, or null) and C(partitions) (C(partition), C(log_end), C(stable_end), C(last_write)).
    With O(until=written), C(written) per topic and C(first_since) and C(written) per partition instead.
  returned: always
  type: dict
  sample:
    orders:
      log_end: 1203
      last_write: null
      partitions:
        - partition: 0
          log_end: 1203
          stable_end: 1203
          last_write: null
history:
  description: One sample per poll, the same as in O(history_file), oldest first.
  returned: always
  type: list
  elements: dict
  sample:
    - time: "2026-11-28T04:00:00.120Z"
      elapsed: 0.12
      total_lag: 3
      lag:
        billing: 3
      log_end: 1203
history_file:
  description: The O(history_file) written, or null.
  returned: always
  type: str
  sample: /var/tmp/lag-history.json
until:
  description: The O(until) option.
  returned: always
  type: str
  sample: drained
max_lag:
  description: The O(max_lag) option.
  returned: always
  type: int
  sample: 0
isolation_level:
  description: The O(isolation_level) option.
  returned: always
  type: str
  sample: read_committed
"""

from ansible_collections.kafkaops.migration.plugins.module_utils import args
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import KafkaOpsError
from ansible_collections.kafkaops.migration.plugins.module_utils.lag import ISOLATION_LEVELS, UNTIL, LagWaiter
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline


def argument_spec():
    spec = args.cluster_argument_spec()
    spec.update(args.wait_argument_spec())
    spec.update(
        groups=dict(type="list", elements="str", default=[]),
        topics=dict(type="list", elements="str"),
        include=dict(type="list", elements="str"),
        exclude=dict(type="list", elements="str", default=[]),
        until=dict(type="str", choices=list(UNTIL), default="drained"),
        max_lag=dict(type="int", default=0),
        isolation_level=dict(type="str", choices=list(ISOLATION_LEVELS), default="read_committed"),
        history_file=dict(type="path"),
        since=dict(type="int"),
        min_members=dict(type="int", default=1),
        min_records=dict(type="int", default=1),
    )
    return spec


def main():
    module = args.KafkaModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    deadline = Deadline(p["timeout"])
    (cluster,) = args.clusters(module, ["cluster"], deadline)
    try:
        waiter = LagWaiter(cluster, groups=p["groups"], topics=p["topics"], until=p["until"], max_lag=p["max_lag"],
                           isolation_level=p["isolation_level"], interval=p["interval"], stable_for=p["stable_for"],
                           timeout=p["timeout"], history_file=p["history_file"], deadline=deadline,
                           include=p["include"], exclude=p["exclude"], since=p["since"],
                           min_members=p["min_members"], min_records=p["min_records"])
        result = waiter.run()
    except KafkaOpsError as exc:
        details = dict(exc.details)
        details.setdefault("duration", round(deadline.elapsed(), 3))
        module.fail_json(msg=exc.msg, changed=False, **details)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
