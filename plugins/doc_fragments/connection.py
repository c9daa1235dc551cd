# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # Two clusters: O(source) and O(target). The suboptions are written out twice on purpose:
    # ansible-test reads fragments as literal strings, so they cannot be composed.
    DOCUMENTATION = r"""
options:
  source:
    description:
      - Connection options of the source cluster (the one being migrated from).
    type: dict
    required: true

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
          - The values of keys that name a secret (containing C(password), C(secret), C(token), C(credentials),
            C(jaas.config), C(keystore.key), C(key.pem) or C(user.info), such as C(sasl.password)) are masked like
            the dedicated C(no_log) options in every output, result, diff and log. The dedicated options are
            still the better place.
          - These settings tune the module's own clients; an application's file gets the connection options only
            (M(kafkaops.migration.kafka_client_config)).
        type: dict
        default: {}
      api:
        description:
          - How the cluster's topics and consumer groups are managed. V(kafka) uses the Kafka admin protocol.
          - V(alibaba) is Alibaba Cloud Message Queue for Apache Kafka (ApsaraMQ for Kafka). Its topics and groups are
            created through its OpenAPI (see O(source.alibaba)); records and group offsets still go over the Kafka
            protocol to O(source.bootstrap_servers), the instance's endpoint. Accepted so that one target dict serves every
            module; V(alibaba) is used by the modules that manage topics or groups.
        type: str
        choices: [kafka, alibaba]
        default: kafka
      alibaba:
        description:
          - The ApsaraMQ for Kafka instance, with O(source.api=alibaba).
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

  target:
    description:
      - Connection options of the target cluster (the one being migrated to). Same suboptions as O(source).
    type: dict
    required: true

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
          - The values of keys that name a secret (containing C(password), C(secret), C(token), C(credentials),
            C(jaas.config), C(keystore.key), C(key.pem) or C(user.info), such as C(sasl.password)) are masked like
            the dedicated C(no_log) options in every output, result, diff and log. The dedicated options are
            still the better place.
          - These settings tune the module's own clients; an application's file gets the connection options only
            (M(kafkaops.migration.kafka_client_config)).
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

  timeout:
    description:
      - Seconds the whole module may run. Every call to Kafka is bounded by it.
    type: float
    default: 120.0

requirements:
  - confluent-kafka >= 2.6 (Python)
"""

    # One cluster: O(cluster).
    CLUSTER = r"""
options:
  cluster:
    description:
      - Connection options of the cluster.
    type: dict
    required: true

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
          - The values of keys that name a secret (containing C(password), C(secret), C(token), C(credentials),
            C(jaas.config), C(keystore.key), C(key.pem) or C(user.info), such as C(sasl.password)) are masked like
            the dedicated C(no_log) options in every output, result, diff and log. The dedicated options are
            still the better place.
          - These settings tune the module's own clients; an application's file gets the connection options only
            (M(kafkaops.migration.kafka_client_config)).
        type: dict
        default: {}
      api:
        description:
          - How the cluster's topics and consumer groups are managed. V(kafka) uses the Kafka admin protocol.
          - V(alibaba) is Alibaba Cloud Message Queue for Apache Kafka (ApsaraMQ for Kafka). Its topics and groups are
            created through its OpenAPI (see O(cluster.alibaba)); records and group offsets still go over the Kafka
            protocol to O(cluster.bootstrap_servers), the instance's endpoint. Accepted so that one target dict serves every
            module; V(alibaba) is used by the modules that manage topics or groups.
        type: str
        choices: [kafka, alibaba]
        default: kafka
      alibaba:
        description:
          - The ApsaraMQ for Kafka instance, with O(cluster.api=alibaba).
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

  timeout:
    description:
      - Seconds the whole module may run. Every call to Kafka is bounded by it.
    type: float
    default: 120.0

requirements:
  - confluent-kafka >= 2.6 (Python)
"""
