#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kafka_spec_facts
short_description: Evaluate a source Kafka cluster, recommend the target's size and preflight a target
version_added: 0.1.0
author: kafkaops.migration contributors (@kafkaops)
description:
  - Steps 1 and 2 of the migration procedure. Reads the source cluster (brokers, versions, controller mode,
    topics with partitions, replication factor and non-default configs, internal topics told apart,
    consumer groups with state, members and lag) and measures its traffic over a sampling window.
  - Recommends the size of the target (write and read traffic with headroom, topics, partitions, disk with
    retention) and the first entry of a catalogue of target editions that carries it, with the reason for
    each figure. The built-in catalogue holds the Alibaba Cloud Message Queue for Apache Kafka editions
    (Standard, Professional High Write, Professional High Read) and a generic C(self-managed) entry.
  - When O(target) is given, first makes sure it is another cluster than O(source) - their cluster ids
    (DescribeCluster) differ, however their addresses are spelled - and fails before reading anything else when
    they are one cluster. Then checks the target before anything is created on it (preflight) - it is
    reachable, its version, whether the topics and partitions fit its limits, topics that already exist
    there, and topic names that collide once Kafka maps C(.) to C(_) in metric names.
  - With O(target.api=alibaba) (Alibaba Cloud ApsaraMQ for Kafka) the preflight also lists every topic and consumer
    group name the instance refuses under its O(target.alibaba.name_rule), with the same naming rule as every step
    (O(rename), O(rename_rule)) - see RV(spec.preflight.names). A refused topic or group is an error, so
    C(spec.preflight.fits) is false; topics the default rule renames give one warning listing the new names. These
    checks need no OpenAPI call; the instance itself is read once (GetInstanceList, read-only) for RV(spec.preflight.instance).
  - Read-only; never changes either cluster and always reports C(changed=false). With O(target.api=alibaba) it makes
    no OpenAPI call that changes anything (no Create, Modify or Start call).
extends_documentation_fragment:
  - kafkaops.migration.connection
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads, so check mode runs the same reads and returns the same result.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  target:
    description:
      - Connection options of the target cluster to preflight (same suboptions as O(source)).
      - Optional in this module; without it only the source is read and sized.
    type: dict
    required: false
    suboptions:
      bootstrap_servers:
        description:
          - Brokers to bootstrap from, as C(host:port) items (or one comma-separated string).
        type: list
        elements: str
        required: true
      security_protocol:
        description:
          - Protocol of the listener the module connects to.
        type: str
        choices: [PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL]
        default: PLAINTEXT
      sasl_mechanism:
        description:
          - SASL mechanism; required with C(SASL_PLAINTEXT) and C(SASL_SSL).
          - Other mechanisms (GSSAPI, OAUTHBEARER) can be set through the C(config) suboption.
        type: str
        choices: [PLAIN, SCRAM-SHA-256, SCRAM-SHA-512]
      sasl_username:
        description:
          - SASL user name.
        type: str
      sasl_password:
        description:
          - SASL password. Never logged or returned.
        type: str
      ssl_ca_location:
        description:
          - File with the CA certificate(s) to verify the brokers with (PEM).
        type: path
      ssl_certificate_location:
        description:
          - Client certificate (PEM) for mutual TLS.
        type: path
      ssl_key_location:
        description:
          - Client private key (PEM) for mutual TLS.
        type: path
      ssl_key_password:
        description:
          - Password of the client private key. Never logged or returned.
        type: str
      ssl_check_hostname:
        description:
          - Verify that the broker certificate matches its host name.
        type: bool
        default: true
      request_timeout:
        description:
          - Seconds one request to this cluster may take. A wrong address or password fails within
            this bound (and never past the module's O(timeout)) with a message naming the cluster and the cause.
        type: float
        default: 10.0
      config:
        description:
          - Extra librdkafka settings (for example C(client.rack), C(sasl.oauthbearer.method)), applied last.
          - Do not put secrets here; use the dedicated options, which are never logged.
        type: dict
        default: {}
      api:
        description:
          - How the cluster's topics and consumer groups are managed. V(kafka) uses the Kafka admin protocol.
          - V(alibaba) is Alibaba Cloud Message Queue for Apache Kafka (ApsaraMQ for Kafka). Its topics and groups are
            created through its OpenAPI (see O(target.alibaba)); records and group offsets still go over the Kafka
            protocol to O(target.bootstrap_servers), the instance's endpoint. Only a target can be V(alibaba).
        type: str
        choices: [kafka, alibaba]
        default: kafka
      alibaba:
        description:
          - The ApsaraMQ for Kafka instance, with O(target.api=alibaba).
        type: dict
        suboptions:
          region_id:
            description: Region of the instance, for example V(cn-hangzhou).
            type: str
            required: true
          instance_id:
            description: The instance (C(alikafka_post-cn-...)). M(kafkaops.migration.kafka_alibaba_instance) returns it.
            type: str
          endpoint:
            description: OpenAPI endpoint; default C(alikafka.<region_id>.aliyuncs.com).
            type: str
          protocol:
            description: Protocol of the OpenAPI endpoint.
            type: str
            choices: [https, http]
            default: https
          access_key_id:
            description:
              - AccessKey ID. Without it the default credential chain of the Alibaba Cloud SDK is used
                (C(ALIBABA_CLOUD_ACCESS_KEY_ID) / C(ALIBABA_CLOUD_ACCESS_KEY_SECRET), C(~/.alibabacloud/credentials),
                an ECS RAM role).
            type: str
          access_key_secret:
            description: AccessKey secret. Never logged or returned.
            type: str
          security_token:
            description: STS token of temporary credentials. Never logged or returned.
            type: str
          rate_limit:
            description:
              - Calls per second to the OpenAPI. The API reference has given 1 per second per account for CreateTopic,
                and later 20; throttling answers are retried with back-off either way.
            type: float
            default: 1.0
          name_rule:
            description:
              - Topic and group names the instance accepts. V(strict) (letters, digits, C(-), C(_); 3 to 64
                characters) is the API reference's rule; V(dotted) also accepts C(.), as the SDK documents for
                reserved instances. Names that do not fit are renamed by the default rule or the rename map of the modules
                that create them (C(rename_rule), C(rename)), or refused.
            type: str
            choices: [strict, dotted]
            default: strict
          topic_storage:
            description:
              - Storage engine of created topics. V(local) (Professional Edition) allows compaction, the replication
                factor, min ISR and retention.ms/max.message.bytes/message.timestamp.type; V(cloud) takes partitions only.
            type: str
            choices: [cloud, local]
            default: cloud
          request_timeout:
            description: Seconds one OpenAPI call may take.
            type: float
            default: 10.0
  rename:
    description:
      - Target topic names for source topics, a dict of source topic to target topic, as
        O(kafkaops.migration.kafka_topic_sync#module:rename) takes it. Give every step the same map (the roles do).
      - Used by the name checks of a target with O(target.api=alibaba) - a topic the map names gets that name, which must
        be one the instance accepts. Two source topics with one target name, or a renamed topic landing on another source
        topic's name, are errors of the preflight. Clashes with topics already on the target are then about the target names.
      - Ignored with a Kafka target (O(target.api=kafka)), which accepts every source name.
    type: dict
    default: {}
  rename_rule:
    description:
      - What happens to a topic the O(rename) map does not name and a target with O(target.api=alibaba) refuses, as
        O(kafkaops.migration.kafka_topic_sync#module:rename_rule) takes it.
      - V(underscore) replaces each refused character by C(_) (C(orders.v1) becomes C(orders_v1)); the preflight lists
        those topics in a warning. V(refuse) makes each of them an error of the preflight. Names longer than the target
        allows are always errors, never truncated.
      - Consumer group names are never renamed (that would change the application's C(group.id)) - a group name the
        instance refuses is always an error.
    type: str
    choices: [underscore, refuse]
    default: underscore
  sample_window:
    description:
      - Seconds over which log-end offsets are sampled to measure messages/s and bytes/s per topic.
      - V(0) skips sampling; traffic figures are then V(null) and disk is sized from the measured size only.
    type: float
    default: 10.0
  sample_interval:
    description:
      - Seconds between two samples inside O(sample_window); the busiest interval gives the peak traffic.
      - Longer than a positive O(sample_window) is refused before any Kafka call (one sample measures no rate).
    type: float
    default: 1.0
  headroom:
    description:
      - Factor applied to the measured peak traffic, the consumption and the disk need (1.5 means 50% above
        what was measured). Must be 1.0 or more.
    type: float
    default: 1.5
  include:
    description:
      - Regular expressions (Python) of the topics to evaluate, each matched against the B(whole) topic name
        (C(re.fullmatch)), as in every module of the collection; for example C(orders\..*) for the topics
        starting with C(orders.). Omitted, every non-internal topic is evaluated.
      - 'Changed: this option used to be C(topics), whose patterns were searched anywhere in the name
        (C(^orders) matched C(orders.eu)); C(topics) is kept as an alias, and its patterns now match whole names too.'
      - Internal topics (the collection's one rule - Kafka's C(__) topics, MirrorMaker 2, Kafka Connect,
        Schema Registry, Confluent Platform, the copy's offset map) are never selected. They are always listed
        (flagged) but never sized or counted as migrated.
      - An empty list is refused (it would evaluate nothing). Patterns that together select no topic fail the task
        (sizing a target for no topic is no answer, and is almost always a typo); a single pattern that matches no
        topic while others do gives a warning.
    type: list
    elements: str
    aliases: [topics]
  exclude:
    description:
      - Regular expressions (whole-name match) of topics to leave out, even when included.
    type: list
    elements: str
    default: []
    aliases: [exclude_topics]
  isolation_level:
    description:
      - Isolation level of the groups' consumers, for the lag figures. The lag is the collection's one lag
        definition (the one O(kafkaops.migration.kafka_lag_wait#module:isolation_level) uses) - measured to the
        last offset a consumer can reach, the last stable offset for V(read_committed), the high watermark for
        V(read_uncommitted) - see RV(spec.groups).
    type: str
    choices: [read_committed, read_uncommitted]
    default: read_committed
  groups:
    description:
      - Read consumer groups (state, members, lag, consumption rate). One offset request per group is
        issued concurrently, and one bounded probe reads the offsets between the groups' committed offsets
        and the reachable end of the partitions to tell trailing transaction markers from records (see notes).
    type: bool
    default: true
  measure_size:
    description:
      - Read the size on disk of every partition with DescribeLogDirs (through kafka-python, see notes).
      - Without it, bytes/s cannot be measured and disk is sized from retention only when traffic is known.
    type: bool
    default: true
  edition:
    description:
      - Restrict the recommendation to one catalogue entry or family - an entry C(name)
        (for example C(alikafka-professional-hw.6xlarge)), an edition family (C(standard), C(professional),
        C(professional-high-read), C(self-managed)) or a vendor spec (C(alikafka.hw.6xlarge)).
      - With O(target) and without O(target_limits), the preflight checks the target against the limits of
        the recommended entry of this edition.
    type: str
  editions:
    description:
      - A custom catalogue that replaces the built-in one, in order of preference (cheapest first).
      - Each item is a dict with a C(name) and any of C(edition), C(vendor), C(product), C(spec),
        C(max_write_mb_s), C(max_read_mb_s), C(included_partitions), C(max_partitions), C(max_topics),
        C(max_groups), C(min_partitions_per_topic), C(max_retention_hours), C(max_message_bytes),
        C(disk_counts_replicas), C(disk_min_gb), C(disk_max_gb), C(replication_factor), C(kafka_versions),
        C(source). A missing limit means no limit.
    type: list
    elements: dict
  target_limits:
    description:
      - Explicit limits of the target for the preflight; they take precedence over O(edition).
    type: dict
    suboptions:
      max_partitions:
        description: Partitions the target may hold in total (existing ones included).
        type: int
      max_topics:
        description: Topics the target may hold in total.
        type: int
      min_partitions_per_topic:
        description: Smallest partition count the target accepts per topic.
        type: int
      max_retention_hours:
        description: Longest retention the target keeps.
        type: float
      max_message_bytes:
        description: Largest message the target accepts.
        type: int
      max_write_mb_s:
        description: Business write traffic the target sustains, MB/s.
        type: float
      max_read_mb_s:
        description: Business read traffic the target sustains, MB/s.
        type: float
  target_replication_factor:
    description:
      - Replicas the target keeps of each partition, used for the disk figure of editions whose bought disk
        holds every replica. Defaults to the catalogue entry's C(replication_factor) (3).
    type: int
  fail_on_misfit:
    description:
      - Fail the task when the preflight finds an error (something that will not fit on the target).
        By default the problems are only reported in RV(spec.preflight).
    type: bool
    default: false
notes:
  - B(Traffic) is measured from log-end offsets (one batched C(ListOffsets) per sample) at the start of the
    window, every O(sample_interval) and at its end. Messages/s counts offsets, so transaction markers count
    as messages and compacted topics are measured by what is written, not what is kept.
  - B(Bytes) come from the size on disk reported by the brokers themselves through C(DescribeLogDirs)
    (kafka-python's C(KafkaAdminClient.describe_log_dirs)), read at the start and the end of the window, each
    reading bracketed by two log-end offset readings so bytes pair with the messages they hold. That size is
    what the target will store and replicate (record batches with their compression and overhead), which is
    why it is preferred over counting payload bytes in a consumer. A topic's bytes/s is its messages/s times
    its average message size over the window (growth of its size / messages written between the readings)
    when no segment was deleted meanwhile (its log-start offset did not move), otherwise times its average
    retained message size.
  - confluent-kafka is the main client; it has no C(DescribeLogDirs), so kafka-python is the one second client,
    used for the sizes and for the version probe only. Without kafka-python the module still runs and warns.
  - B(Versions) come from an ApiVersions probe of every broker (kafka-python matches the API versions a broker
    answers to the newest Apache Kafka release it knows, so the figure is a lower bound, for example C(4.3) for
    a 4.4 broker), plus C(inter.broker.protocol.version) in ZooKeeper mode or the finalized
    C(metadata.version) feature level in KRaft mode. The controller mode is C(zookeeper) when brokers have
    C(zookeeper.connect) set, C(kraft) when they have C(process.roles) or answer the features API.
  - B(Lag) of a group is summed over the partitions of the selected topics it committed on, with the
    collection's one lag definition (as in M(kafkaops.migration.kafka_lag_wait)) - log end minus the committed
    offset advanced over the offsets proven to hold nothing the group's consumers can receive (commit and abort
    markers, aborted records), read once by a probe of O(isolation_level) that never commits and stops at the
    first deliverable record. A group that consumed everything reports 0, also on transactional topics.
    The probe is bounded by the source's C(request_timeout); a partition it could not decide in time keeps
    the upper bound C(log end - committed).
  - B(Disk) per topic is bytes/s x C(retention.ms) (capped by C(retention.bytes) x partitions), or the measured
    size when larger, compacted or unlimited; summed, times O(headroom), times the replication factor for
    editions whose disk holds every replica (Alibaba Standard Edition, self-managed).
  - Built-in catalogue figures (Alibaba Cloud, read 2026-11-28) are listed with their sources in
    C(plugins/module_utils/editions.py); MB means MiB (1,048,576 bytes). Check the vendor's current price list
    before buying.
requirements:
  - kafka-python >= 2.1 (Python, optional; for sizes on disk and the version probe)
seealso:
  - name: ApsaraMQ for Kafka billing
    description: Traffic specifications and partitions included per specification.
    link: https://help.aliyun.com/document_detail/84737.html
  - name: ApsaraMQ for Kafka limits
    description: Topics, partitions, message size and versions of the managed service.
    link: https://www.alibabacloud.com/help/en/apsaramq-for-kafka/cloud-message-queue-for-kafka/product-overview/limits
"""

EXAMPLES = r"""
- name: Evaluate the source over 30 s and size an Alibaba Cloud target
  kafkaops.migration.kafka_spec_facts:
    source:
      bootstrap_servers: [kafka1.internal:9092, kafka2.internal:9092, kafka3.internal:9092]
    sample_window: 30
    headroom: 1.5
  register: spec

- name: Show the recommended edition and the reason for the disk figure
  ansible.builtin.debug:
    msg: "{{ spec.spec.recommendation.edition }} - {{ spec.spec.recommendation.figures.disk_gb.reason }}"

- name: Preflight a Professional Edition target before creating anything on it
  kafkaops.migration.kafka_spec_facts:
    source:
      bootstrap_servers: kafka1.internal:9092
    target:
      bootstrap_servers: [alikafka-pre-xxx-1-vpc.alikafka.aliyuncs.com:9094]
      security_protocol: SASL_SSL
      sasl_mechanism: SCRAM-SHA-512
      sasl_username: migrator
      sasl_password: "{{ vault_target_password }}"
      ssl_ca_location: /etc/kafka/alikafka-ca.pem
    edition: professional
    include: ['orders\..*', 'payments\..*']
    exclude: ['.*-tmp']
    fail_on_misfit: true

- name: Preflight an Alibaba Cloud instance - names it refuses, topics it renames
  kafkaops.migration.kafka_spec_facts:
    source:
      bootstrap_servers: kafka1.internal:9092
    target:
      bootstrap_servers: [alikafka-post-cn-xxx-1-vpc.alikafka.aliyuncs.com:9092]
      api: alibaba
      alibaba:
        region_id: cn-hangzhou
        instance_id: alikafka_post-cn-xxx
    sample_window: 0
    rename:
      orders.v1: orders-v1
  register: ali_spec

- name: Stop when the instance refuses a topic or group name
  ansible.builtin.assert:
    that: ali_spec.spec.preflight.fits
    fail_msg: "{{ ali_spec.spec.preflight.problems | selectattr('severity', 'eq', 'error') | map(attribute='detail') | list }}"

- name: Size against your own catalogue, without sampling
  kafkaops.migration.kafka_spec_facts:
    source:
      bootstrap_servers: kafka1.internal:9092
    sample_window: 0
    editions:
      - name: small-cluster
        max_write_mb_s: 50
        max_partitions: 2000
        disk_counts_replicas: true
      - name: big-cluster
        max_write_mb_s: 500
        max_partitions: 20000
        disk_counts_replicas: true
"""

RETURN = r"""
spec:
  description: Everything read and computed. Sizes are bytes, rates per second, disk in GB (GiB), traffic in MB/s (MiB/s).
  returned: success
  type: dict
  contains:
    cluster_id:
      description: Source cluster id.
      type: str
      sample: l-tHLOSRTQKg2_e8vE6UXg
    controller_mode:
      description: C(zookeeper), C(kraft) or C(unknown).
      type: str
      sample: zookeeper
    brokers:
      description: Source brokers with C(id), C(host), C(port), C(rack), C(version) (probe),
        C(inter_broker_protocol_version) (ZooKeeper mode) and C(process_roles) (KRaft).
      type: list
      elements: dict
    version:
      description: C(reported) version (lowest probed), C(probed) per broker, C(inter_broker_protocol_version),
        C(metadata_version_level) and the C(method) used.
      type: dict
    broker_defaults:
      description: Broker-wide defaults that shape topics (retention, partitions, replication, message size).
      type: dict
    totals:
      description: C(brokers), C(topics) and C(internal_topics), C(partitions), C(replicas), C(messages),
        C(size_bytes) (one copy), C(size_bytes_all_replicas), C(groups), C(total_lag) of the selected application topics.
      type: dict
    traffic:
      description: C(window_s), C(samples), C(messages_per_s), C(bytes_per_s), C(peak_messages_per_s),
        C(peak_bytes_per_s), C(read_bytes_per_s) and C(size_source); rates are V(null) when not measured.
      type: dict
    internal_topics:
      description: Internal topics (Kafka's own, and Connect / MirrorMaker 2 / Schema Registry ones) with their C(kind).
      type: list
      elements: dict
      sample: [{"name": "__consumer_offsets", "kind": "consumer offsets"}]
    topics:
      description: Every selected topic with C(name), C(internal), C(internal_kind), C(partitions),
        C(replication_factor), C(under_replicated_partitions), C(configs) (non-default, dynamic topic configs only),
        C(retention_ms), C(retention_bytes), C(cleanup_policy), C(max_message_bytes), C(messages) (retained),
        C(log_end_offsets), C(size_bytes), C(size_bytes_all_replicas), C(messages_per_s), C(bytes_per_s),
        C(bytes_source), C(average_message_bytes), C(disk_bytes) and C(disk_reason).
      type: list
      elements: dict
    groups:
      description: Every consumer group of the cluster with C(group_id), C(state), C(members), C(simple), C(assignor),
        C(clients), C(lag) (the collection's one lag definition, see notes - 0 when the group consumed everything
        its consumers of O(isolation_level) can receive - summed over the partitions of the selected topics it
        committed on), C(topics) (lag per selected topic), C(partitions_not_drained), C(committed_partitions)
        (all topics) and C(read_bytes_per_s) (committed offsets advancing on the selected topics during the
        window, times their average message size).
      type: list
      elements: dict
    recommendation:
      description: C(fits), C(edition) (entry name), C(edition_family), C(spec), C(vendor), C(product),
        C(replication_factor), C(included_partitions) (the partitions the edition's price includes, null when none are),
        C(figures) (C(write_mb_s), C(read_mb_s), C(topics), C(partitions),
        C(extra_partitions), C(disk_gb), C(retention_hours), each with C(value), C(limit) and C(reason)),
        C(needs) (the figures before matching) and C(by_edition) (per family, the first spec that fits or why
        the largest does not).
      type: dict
    preflight:
      description: Only with O(target). C(fits), C(problems) (each with C(kind), C(severity) error or warning,
        C(topic) or C(topics), C(detail)), C(clashes) (topics already on the target), C(metric_collisions),
        C(partitions_after), C(topics_after), C(new_partitions), C(reachable), C(cluster_id), C(brokers),
        C(controller_mode), C(version), C(limits), C(limits_source), C(existing_topics), C(existing_partitions),
        and with O(target.api=alibaba) C(names) and C(instance).
      type: dict
      contains:
        names:
          description:
            - Only with O(target.api=alibaba) (a Kafka target accepts every source name, so the key is absent).
            - C(rule) (the instance's name rule, V(strict) or V(dotted)), C(rename_rule), C(renamed) (selected source
              topics whose target topic has another name, with that name; refused topics left out), C(refused_topics)
              (source topic and why its target name is refused - a character, the length, or two topics on one name),
              C(refused_groups) (source consumer group and why its name is refused) and C(groups_checked) (false with
              O(groups=false)).
            - The groups checked are those the spec lists, except groups whose committed offsets are all on topics
              outside the selection.
            - Each refused topic is also a problem of kind C(topic_name), each refused group one of kind C(group_name)
              (both errors, so C(fits) is false), and the renamed topics one warning of kind C(topic_rename).
          returned: with O(target.api=alibaba)
          type: dict
          sample: {rule: strict, rename_rule: underscore, renamed: {orders.v1: orders_v1},
                   refused_topics: {}, refused_groups: {team.billing: "group name 'team.billing' has characters the service refuses"},
                   groups_checked: true}
        instance:
          description:
            - The instance as GetInstanceList gives it (C(InstanceId), C(ServiceStatus), C(status), quotas, C(endpoints), ...).
            - Absent when it could not be read (a warning in C(warnings) says why); the name checks do not need it.
          returned: with O(target.api=alibaba), when the OpenAPI answered
          type: dict
    warnings:
      description: Things that limited the evaluation (missing kafka-python, topics deleted while read, ...).
      type: list
      elements: str
    duration_s:
      description: Seconds the source evaluation took.
      type: float
"""

from ansible_collections.kafkaops.migration.plugins.module_utils import admin, alibaba, args
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import KafkaOpsError
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline
from ansible_collections.kafkaops.migration.plugins.module_utils import spec as core
from ansible_collections.kafkaops.migration.plugins.module_utils.editions import CATALOGUE


def argument_spec():
    spec = args.source_target_argument_spec()
    spec["target"]["required"] = False
    spec.update(
        sample_window=dict(type="float", default=10.0),
        sample_interval=dict(type="float", default=1.0),
        headroom=dict(type="float", default=1.5),
        include=dict(type="list", elements="str", aliases=["topics"]),
        exclude=dict(type="list", elements="str", default=[], aliases=["exclude_topics"]),
        isolation_level=dict(type="str", choices=list(admin.ISOLATION_LEVELS), default="read_committed"),
        groups=dict(type="bool", default=True),
        measure_size=dict(type="bool", default=True),
        edition=dict(type="str"),
        editions=dict(type="list", elements="dict"),
        target_limits=dict(type="dict", options=dict(
            max_partitions=dict(type="int"),
            max_topics=dict(type="int"),
            min_partitions_per_topic=dict(type="int"),
            max_retention_hours=dict(type="float"),
            max_message_bytes=dict(type="int"),
            max_write_mb_s=dict(type="float"),
            max_read_mb_s=dict(type="float"),
        )),
        target_replication_factor=dict(type="int"),
        fail_on_misfit=dict(type="bool", default=False),
        rename=dict(type="dict", default={}),
        rename_rule=dict(type="str", choices=["underscore", "refuse"], default="underscore"),
    )
    return spec


def validate(params):
    """Option checks that need no cluster; raise KafkaOpsError."""
    if params["sample_window"] < 0:
        raise KafkaOpsError("sample_window must be 0 (no sampling) or positive")
    if params["sample_interval"] <= 0:
        raise KafkaOpsError("sample_interval must be positive")
    if params["headroom"] < 1:
        raise KafkaOpsError("headroom must be 1.0 or more, got %s" % params["headroom"])
    if 0 < params["sample_window"] < params["sample_interval"]:
        # one sample is no rate: the window would end before the second sample
        suggested = max(params["sample_window"] / 10.0, 0.1)
        raise KafkaOpsError("sample_interval (%s s) is longer than sample_window (%s s), so traffic would be sampled "
                            "once and not measured: make sample_interval at most sample_window (e.g. %s s), or "
                            "sample_window 0 to skip sampling" % (params["sample_interval"], params["sample_window"], suggested))
    if params["sample_window"] >= params["timeout"]:
        raise KafkaOpsError("sample_window (%s s) must be shorter than timeout (%s s)" % (params["sample_window"], params["timeout"]))
    if params["target_replication_factor"] is not None and params["target_replication_factor"] < 1:
        raise KafkaOpsError("target_replication_factor must be 1 or more")
    for key, value in (params["target_limits"] or {}).items():
        if value is not None and value < 0:
            raise KafkaOpsError("target_limits.%s must not be negative" % key)
    if params["include"] is not None and not params["include"]:
        raise KafkaOpsError("include is empty, so no topic would be evaluated: omit it to evaluate every non-internal topic")
    alibaba.validate_rename(params["rename"])
    selection = admin.Selection(params["include"], params["exclude"])
    catalogue = core.normalise_editions(params["editions"]) if params["editions"] is not None else CATALOGUE
    core.filter_editions(catalogue, params["edition"])  # unknown edition fails before any Kafka call
    return selection, catalogue


def run(module, source, target, selection, catalogue):
    p = module.params
    if target is not None:
        admin.ensure_distinct(source, target)  # before anything else is read
    result, apps, warnings = core.collect(source, window=p["sample_window"], interval=p["sample_interval"],
                                          selection=selection, groups=p["groups"], measure_size=p["measure_size"],
                                          isolation_level=p["isolation_level"])
    traffic = result["traffic"] if result["traffic"].get("samples", 1) > 1 else None
    needs = core.sizing_needs(apps, traffic, result["traffic"].get("read_bytes_per_s"), p["headroom"])
    rec = core.recommend(needs, catalogue, p["edition"], p["target_replication_factor"])
    result["recommendation"] = rec
    if target is not None:
        if p["target_limits"]:
            limits = dict((k, v) for k, v in p["target_limits"].items())
            source_of_limits = "target_limits"
        elif p["edition"]:
            entry = None
            if rec["edition"]:
                entry = next(e for e in catalogue if e["name"] == rec["edition"])
            else:
                entry = core.filter_editions(catalogue, p["edition"])[-1]  # largest of the edition
            limits = core.limits_from_entry(entry)
            source_of_limits = "edition %s" % entry["name"]
        else:
            limits, source_of_limits = {}, "none (give edition or target_limits to check limits)"
        result["preflight"] = core.preflight(target, result, apps, limits, source_of_limits, needs, rename=p["rename"],
                                             rename_rule=p["rename_rule"], source=source, groups_read=p["groups"])
    result["warnings"] = warnings
    return result


def main():
    module = args.KafkaModule(argument_spec=argument_spec(), supports_check_mode=True)
    deadline = Deadline(module.params["timeout"])
    try:
        selection, catalogue = validate(module.params)
    except KafkaOpsError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    names = ["source"] + (["target"] if module.params["target"] is not None else [])
    clusters = args.clusters(module, names, deadline)
    source = clusters[0]
    target = clusters[1] if len(clusters) > 1 else None
    try:
        result = run(module, source, target, selection, catalogue)
    except KafkaOpsError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    preflight = result.get("preflight")
    if module.params["fail_on_misfit"] and preflight is not None and not preflight["fits"]:
        errors = [p["detail"] for p in preflight["problems"] if p["severity"] == "error"]
        module.fail_json(msg="the target does not fit: %d problem(s): %s" % (len(errors), "; ".join(errors[:5])),
                         spec=result)
    for warning in result.get("warnings") or []:
        module.warn(warning)
    module.exit_json(changed=False, spec=result)


if __name__ == "__main__":
    main()
