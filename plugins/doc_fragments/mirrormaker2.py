# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # kafka_mirror's O(mirrormaker2) option (engine mirrormaker2); the spec is mm2.MM2_OPTION_SPEC.
    DOCUMENTATION = r"""
options:
  mirrormaker2:
    description:
      - Settings of the C(mirrormaker2) engine, which deploys MirrorMaker 2 connectors
        (C(MirrorSourceConnector), C(MirrorCheckpointConnector) and optionally C(MirrorHeartbeatConnector))
        on an existing Kafka Connect cluster through its REST API, for volumes that outgrow one machine.
      - The Connect cluster must use the target cluster as its own Kafka cluster (its internal topics live
        there), because a source connector writes its records into the Connect cluster's Kafka cluster. The module
        checks this and fails otherwise.
      - The copied topics are O(topics) and O(include) minus O(exclude) (which extend MirrorMaker 2's
        default C(topics.exclude) of internal topics).
      - Topic names stay the same on the target (C(IdentityReplicationPolicy)); partitions, keys, values,
        headers and timestamps are copied as they are (C(ByteArrayConverter) for keys, values and headers).
        The source is read C(read_committed), so records of aborted transactions are never copied.
      - Each connector config is validated by the Connect worker before anything changes, and is only
        written (C(PUT /connectors/<name>/config)) when it differs from the running one, so a second run
        reports no change. Check mode and diff are supported; secrets are masked in the diff.
      - Connectors keep their committed source offsets when they are deleted and created again under the
        same name, so the copy resumes where it stopped.
    type: dict
    suboptions:
      connect_url:
        description:
          - URL of the Kafka Connect REST API, for example C(http://connect.example.com:8083).
          - Any worker of the Connect cluster will do; requests are forwarded to the leader.
        type: str
        required: true
      username:
        description:
          - User name for HTTP basic authentication to the REST API.
        type: str
      password:
        description:
          - Password for HTTP basic authentication to the REST API. Never logged or returned.
        type: str
      validate_certs:
        description:
          - Verify the REST API's TLS certificate (C(https://) URLs).
        type: bool
        default: true
      ca_path:
        description:
          - PEM file with the CA certificate(s) to verify the REST API's certificate with.
        type: path
      request_timeout:
        description:
          - Seconds one REST call may take (never past the module's O(timeout)). An unreachable Connect URL
            fails within this bound with a message naming the URL.
        type: float
        default: 10.0
      connector_prefix:
        description:
          - Connector names are C(<connector_prefix>-source), C(<connector_prefix>-checkpoint) and
            C(<connector_prefix>-heartbeat). Use one prefix per source/target pair.
          - Connectors of this prefix that are no longer wanted (for example the heartbeat connector after
            O(mirrormaker2.heartbeats=false)) are deleted.
        type: str
        default: kafkaops-mm2
      source_alias:
        description:
          - MirrorMaker 2 alias of the source cluster (C(source.cluster.alias)). It names the offset-syncs and
            checkpoints topics and the source partitions in the connector's committed offsets.
        type: str
        default: source
      target_alias:
        description:
          - MirrorMaker 2 alias of the target cluster (C(target.cluster.alias)).
        type: str
        default: target
      tasks_max:
        description:
          - Maximum number of tasks of the source and checkpoint connectors. Partitions are spread over the
            tasks, and tasks over the Connect workers.
        type: int
        default: 4
      exactly_once:
        description:
          - Exactly-once delivery of the source connector (Kafka Connect 3.3 or later, KIP-618).
          - Every worker must run with C(exactly.once.source.support=enabled); the connector then gets
            C(exactly.once.support=required), and its records and source offsets are committed in one
            transaction on the target, so a crashed or restarted task neither skips nor repeats records.
          - C(auto) asks for it and, when the worker rejects it, falls back to at-least-once with a warning.
            C(required) fails instead (nothing deployed). C(disabled) never asks (at-least-once, so a restarted
            task may write records again).
        type: str
        choices: [auto, required, disabled]
        default: auto
      checkpoints:
        description:
          - Deploy C(MirrorCheckpointConnector), which translates consumer group offsets to the target.
        type: bool
        default: true
      sync_group_offsets:
        description:
          - Let the checkpoint connector write the translated offsets into the target's consumer groups
            (C(sync.group.offsets.enabled)). Kafka only lets it do so for groups with no active member on
            the target.
          - MirrorMaker 2 translates offsets conservatively (a group may re-read some records after the
            switch); for an exact cutover translate the offsets with M(kafkaops.migration.kafka_group_sync)
            instead and set this to V(false).
        type: bool
        default: true
      groups:
        description:
          - Regular expressions (Java syntax, whole-name match, no commas) of the consumer groups whose offsets
            the checkpoint connector translates.
        type: list
        elements: str
        default: ['.*']
      heartbeats:
        description:
          - Deploy C(MirrorHeartbeatConnector) too. It writes heartbeats into the C(heartbeats) topic of the
            Connect cluster's Kafka cluster (the target), showing that the Connect to target path works.
        type: bool
        default: false
      replication_factor:
        description:
          - Replication factor of the topics MirrorMaker 2 creates on the target (copied topics it creates
            itself, offset-syncs, checkpoints, heartbeats). C(-1) uses the target's C(default.replication.factor).
        type: int
        default: -1
      offset_syncs_location:
        description:
          - Cluster that holds MirrorMaker 2's offset-syncs topic. C(target) (the default) writes nothing to the
            source cluster.
        type: str
        choices: [source, target]
        default: target
      sync_topic_configs:
        description:
          - Let the source connector copy topic configurations to the target (C(sync.topic.configs.enabled)).
        type: bool
        default: true
      config:
        description:
          - Extra connector settings applied last to every connector, for example
            C(source.cluster.ssl.truststore.location) or C(refresh.topics.interval.seconds).
          - Cluster connection settings are built from O(source) and O(target) (TLS files are read where the
            module runs and put inline as PEM); the clusters' librdkafka O(source.config) is not used here.
          - Values may use Connect config providers (C(${file:/path:key})) to keep secrets out of the
            connector configs.
        type: dict
        default: {}
      connector_config:
        description:
          - Extra settings for one connector, applied after O(mirrormaker2.config), as a dict with the keys
            C(source), C(checkpoint) and C(heartbeat).
        type: dict
        default: {}
      state:
        description:
          - C(present) deploys or updates the connectors; C(absent) deletes every connector of
            O(mirrormaker2.connector_prefix). Deleting stops the copy; the copied data stays on the target.
        type: str
        choices: [present, absent]
        default: present
      wait:
        description:
          - Wait (within the module's O(timeout), polling every C(interval) seconds) until every connector and all its
            tasks are C(RUNNING) with the new config, and have stayed so for C(stable_for) seconds (which catches
            tasks that fail right after they start). A failed task fails the module with its stack trace.
          - The source connector needs at least one matching source topic to have a task.
          - The connectors' states, their tasks' states and the lag (records between the offset the source
            connector committed and the source's log end offset, per partition) are returned either way.
        type: bool
        default: true
"""
