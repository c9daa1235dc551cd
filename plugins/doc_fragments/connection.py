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
          - Do not put secrets here; use the dedicated options, which are never logged.
        type: dict
        default: {}

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
          - Do not put secrets here; use the dedicated options, which are never logged.
        type: dict
        default: {}

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
          - Do not put secrets here; use the dedicated options, which are never logged.
        type: dict
        default: {}

  timeout:
    description:
      - Seconds the whole module may run. Every call to Kafka is bounded by it.
    type: float
    default: 120.0

requirements:
  - confluent-kafka >= 2.6 (Python)
"""
