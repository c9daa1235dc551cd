#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kafka_client_config
short_description: Point an application's Kafka client settings at a cluster, editing its configuration file in place
version_added: 0.1.0
author: kafkaops.migration contributors (@kafkaops)
description:
  - Switches an application to a cluster by editing the application's own configuration file B(in place) - a
    Java properties file, an environment file, a YAML or JSON file or a systemd drop-in. Only the Kafka
    connection keys change; every other line and comment stays byte-identical (json files are rewritten with
    the file's indentation and key order), the file's trailing newline state is kept and a backup is made.
  - The keys written are derived from O(cluster) for the client library the application uses (O(dialect)).
    V(librdkafka) writes C(bootstrap.servers), C(security.protocol), C(sasl.mechanism), C(sasl.username),
    C(sasl.password), C(ssl.ca.location), C(ssl.certificate.location), C(ssl.key.location), C(ssl.key.password)
    and C(ssl.endpoint.identification.algorithm=none) when O(cluster.ssl_check_hostname=false).
  - V(java) writes C(bootstrap.servers), C(security.protocol), C(sasl.mechanism) and C(sasl.jaas.config) (the
    C(PlainLoginModule) for C(PLAIN), the C(ScramLoginModule) for C(SCRAM-SHA-256) and C(SCRAM-SHA-512)). With TLS,
    O(cluster.ssl_ca_location) becomes C(ssl.truststore.type=PEM) and C(ssl.truststore.location), O(truststore)
    the C(ssl.truststore.*) keys, O(keystore) the C(ssl.keystore.*) keys and C(ssl.key.password), and
    O(cluster.ssl_check_hostname=false) an empty C(ssl.endpoint.identification.algorithm).
  - The managed keys are every connection key of the dialect plus the keys of O(settings). A managed key the
    new cluster does not need is removed (O(remove_unused)), for example the C(sasl.*) keys and
    C(sasl.jaas.config) when the new cluster is C(PLAINTEXT). Keys are edited where they are (every
    occurrence); new keys are added after the last managed key found, or at the end of the file (for
    yaml and json, under the O(prefix) mapping).
  - The edited file is read back before it is written; when it does not hold exactly the intended values
    (or, for yaml, when anything else in the document would change) the task fails and nothing is written.
  - The module never connects to Kafka and does not need confluent-kafka; it runs on the application hosts.
options:
  path:
    description:
      - The configuration file to edit.
    type: path
    required: true
  format:
    description:
      - V(properties) - Java properties (C(key=value), C(key:value) or C(key value), comments C(#) and C(!),
        escapes and continued lines). Values are written escaped as properties files need.
      - V(env) - C(KEY=VALUE) lines, with an optional C(export) kept; values are double-quoted when needed (with
        C(\\), C(\"), C($) and backquote escaped), so the file works as a systemd C(EnvironmentFile) and with
        C(set -a; . file).
      - V(yaml) - block-style YAML, edited line by line (the scalar on its line is replaced, the comment after it
        kept). Flow-style mappings on the way to a key, anchors and aliases fail the task.
      - V(json) - a JSON object, rewritten with the file's indentation (2 when it has none) and key order.
      - V(systemd) - a drop-in with C(Environment="NAME=value") lines (one variable per line) in its C([Service])
        section. A line that sets a managed variable together with others is rewritten with every assignment quoted.
    type: str
    choices: [properties, env, yaml, json, systemd]
    default: properties
  create:
    description:
      - Create the file when it is missing (for V(systemd) with a C([Service]) header). O(require) is not
        applied to a new file.
      - Without it a missing file fails the task.
    type: bool
    default: false
  dialect:
    description:
      - The client library of the application - V(java) (the Apache Kafka Java client, Spring) or V(librdkafka)
        (confluent-kafka, kcat and the other librdkafka clients).
    type: str
    choices: [java, librdkafka]
    required: true
  truststore:
    description:
      - Java truststore (dialect V(java) with TLS), written as C(ssl.truststore.location), C(ssl.truststore.password)
        and C(ssl.truststore.type). Not together with O(cluster.ssl_ca_location).
    type: dict
    suboptions:
      location:
        description:
          - Path of the truststore on the application host.
        type: path
        required: true
      password:
        description:
          - Truststore password. Never logged or returned.
        type: str
      type:
        description:
          - Truststore type (C(JKS), C(PKCS12), C(PEM)).
        type: str
        default: JKS
  keystore:
    description:
      - Java keystore for mutual TLS (dialect V(java) with TLS), written as C(ssl.keystore.location),
        C(ssl.keystore.password), C(ssl.keystore.type) and C(ssl.key.password).
      - Java cannot use O(cluster.ssl_certificate_location) and O(cluster.ssl_key_location) (a PEM keystore needs
        the certificate and the key in one file), so give a keystore instead.
    type: dict
    suboptions:
      location:
        description:
          - Path of the keystore on the application host.
        type: path
        required: true
      password:
        description:
          - Keystore password. Never logged or returned.
        type: str
      type:
        description:
          - Keystore type (C(JKS), C(PKCS12), C(PEM)).
        type: str
        default: JKS
      key_password:
        description:
          - Password of the private key in the keystore (C(ssl.key.password)); O(cluster.ssl_key_password) when
            not given. Never logged or returned.
        type: str
  settings:
    description:
      - More client keys to set (for example C(client.rack)), written as given, after (and over) the keys derived
        from O(cluster). They are managed keys too.
      - A key with a null value is removed from the file (even with O(remove_unused=false)).
      - Values of keys whose name names a secret (C(password), C(secret), C(token), C(jaas.config), ...) are masked in
        the results, the diff and every log, and make the file mode C(0600).
    type: dict
    default: {}
  keys:
    description:
      - Client key -> the name used for it in this file, replacing the default name (see O(prefix)). For example
        C(bootstrap.servers=BROKERS) with V(env), or C(bootstrap.servers=spring.kafka.bootstrap-servers) with
        V(yaml) and V(json), where the name is a key path from the top of the document.
      - Key paths are dotted strings where a segment in square brackets is literal, such as
        C(spring.kafka.properties[sasl.jaas.config]).
    type: dict
  prefix:
    description:
      - V(env) and V(systemd) - the variable of a client key is the prefix plus the key upper-cased, with C(.) as
        C(_) (default C(KAFKA_) - C(bootstrap.servers) is C(KAFKA_BOOTSTRAP_SERVERS)).
      - V(yaml) and V(json) - the key path of the mapping that holds the client keys. The default is
        C(spring.kafka.properties) for V(java), with C(bootstrap.servers) at C(spring.kafka.bootstrap-servers) (Spring
        Boot), and C(kafka) for V(librdkafka). A client key under it is found as a literal dotted key
        (C(security.protocol), Spring's C("[security.protocol]")) or nested (C(security) then C(protocol)) and is
        edited where it is; new keys are added as literal dotted keys, creating the mappings as needed.
      - V(properties) - a text put before each key (default none), for example C(spring.kafka.properties.).
    type: str
  require:
    description:
      - Client keys that must already be in the file, or the task fails (C(the keys to change are not there)) -
        a guard against editing the wrong file.
    type: list
    elements: str
    default: [bootstrap.servers]
  remove_unused:
    description:
      - Remove the managed keys the new cluster does not need.
    type: bool
    default: true
  backup:
    description:
      - Keep a copy of the file, with a time stamp in its name, before changing it.
    type: bool
    default: true
  topic_keys:
    description:
      - Keys of the file that name the topics the application reads or writes (a topic name or a comma-separated
        list), for example C(app.topic). They are named in the file the way O(settings) keys are (O(keys), O(prefix)).
      - Each topic becomes its name on O(cluster) by the rule every step uses - the O(rename) map first, then, for a
        cluster with O(cluster.api=alibaba), O(rename_rule) for names its name rule refuses (C(demo.orders) becomes
        C(demo_orders)) - so the application uses the topics M(kafkaops.migration.kafka_topic_sync) created.
      - A key not in the file fails the task (a guard against editing the wrong file), except in a new file.
        A name that is already a target name of O(rename) is kept (the edit is idempotent); a name that is both a
        source and a target of the map fails.
    type: list
    elements: str
    default: []
  rename:
    description:
      - Source topic -> target topic, applied to the topics of O(topic_keys). Give the same map as to
        M(kafkaops.migration.kafka_topic_sync) and M(kafkaops.migration.kafka_group_sync) (the roles do).
    type: dict
    default: {}
  rename_rule:
    description:
      - What happens to a topic of O(topic_keys) that O(rename) does not name and the cluster refuses (only a
        cluster with O(cluster.api=alibaba) refuses names) - V(underscore) replaces each refused character by C(_),
        V(refuse) keeps the name (topic sync has refused such a topic before any application moves).
    type: str
    choices: [underscore, refuse]
    default: underscore
  mode:
    description:
      - Mode of the file, as for M(ansible.builtin.file).
      - When not given and the file holds a secret (C(sasl.password), C(sasl.jaas.config), a C(ssl.*password)),
        a file readable by group or others is set to C(0600) (RV(mode_tightened)); a new file holding a secret is
        created C(0600). Owner and group are kept.
    type: raw
extends_documentation_fragment:
  - kafkaops.migration.connection.cluster
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Computes the change and the diff, writes nothing and makes no backup.
  diff_mode:
    support: full
    details: The diff shows the managed keys only, secrets masked.
  platform:
    platforms: posix
notes:
  - The module never connects to Kafka; O(timeout), O(cluster.request_timeout) and O(cluster.config) are not used,
    and confluent-kafka is not needed on the host.
  - Secrets never appear in the results or the diff - C(sasl.password), the passwords in C(sasl.jaas.config)
    (C(password="********")), C(ssl.key.password), C(ssl.truststore.password), C(ssl.keystore.password) and the
    O(settings) whose name contains C(password) or C(secret) are masked.
  - The yaml editor handles block mappings, plain and quoted scalars, block and flow sequences of scalars and
    comments; what it cannot edit safely fails the task with nothing written.
seealso:
  - module: kafkaops.migration.kafka_lag_wait
"""

EXAMPLES = r"""
- name: Point an application at an Alibaba Cloud instance, with the topics it names renamed as topic sync did
  kafkaops.migration.kafka_client_config:
    path: /etc/billing/kafka.properties
    dialect: librdkafka
    cluster: "{{ kafka_target }}"            # api: alibaba, name_rule strict: demo.orders becomes demo_orders
    topic_keys: [app.topic]
    rename: {legacy.audit: audit-v2}          # the same map as kafka_topic_sync's

- name: Point a Spring Boot application at the new cluster (application.yml)
  kafkaops.migration.kafka_client_config:
    path: /opt/billing/config/application.yml
    format: yaml
    dialect: java
    cluster:
      bootstrap_servers: ["kafka-new-1:9093", "kafka-new-2:9093"]
      security_protocol: SASL_SSL
      sasl_mechanism: SCRAM-SHA-512
      sasl_username: billing
      sasl_password: "{{ vault_billing_kafka_password }}"
      ssl_ca_location: /etc/pki/kafka/ca.pem
  register: billing_config
  notify: Restart billing

- name: Point a confluent-kafka service at the new cluster (a systemd EnvironmentFile)
  kafkaops.migration.kafka_client_config:
    path: /etc/default/shipping
    format: env
    dialect: librdkafka
    cluster:
      bootstrap_servers: ["kafka-new-1:9092"]
    keys:
      bootstrap.servers: SHIPPING_BROKERS

- name: Java client with a PKCS12 truststore and keystore, in a properties file
  kafkaops.migration.kafka_client_config:
    path: /etc/payments/kafka.properties
    dialect: java
    cluster:
      bootstrap_servers: ["kafka-new-1:9094"]
      security_protocol: SSL
    truststore:
      location: /etc/payments/truststore.p12
      password: "{{ vault_truststore_password }}"
      type: PKCS12
    keystore:
      location: /etc/payments/keystore.p12
      password: "{{ vault_keystore_password }}"
      type: PKCS12
    settings:
      client.rack: eu-west-1a

- name: Create a systemd drop-in for a librdkafka service
  kafkaops.migration.kafka_client_config:
    path: /etc/systemd/system/orders.service.d/kafka.conf
    format: systemd
    dialect: librdkafka
    create: true
    cluster:
      bootstrap_servers: ["kafka-new-1:9092"]
"""

RETURN = r"""
path:
  description: The file edited.
  returned: always
  type: str
  sample: /opt/billing/config/application.yml
format:
  description: The O(format) option.
  returned: always
  type: str
  sample: yaml
dialect:
  description: The O(dialect) option.
  returned: always
  type: str
  sample: java
backup_file:
  description: The backup made, or null (nothing changed, check mode or O(backup=false)).
  returned: always
  type: str
  sample: /opt/billing/config/application.yml.12345.2026-11-28@04:00:00~
before:
  description: The managed keys found in the file before the change, client key -> value, secrets masked.
  returned: always
  type: dict
  sample:
    bootstrap.servers: kafka-old-1:9092
    security.protocol: PLAINTEXT
after:
  description: The managed keys in the file after the change, client key -> value, secrets masked.
  returned: always
  type: dict
  sample:
    bootstrap.servers: kafka-new-1:9093,kafka-new-2:9093
    security.protocol: SASL_SSL
    sasl.mechanism: SCRAM-SHA-512
    sasl.jaas.config: org.apache.kafka.common.security.scram.ScramLoginModule required username="billing" password="********";
bootstrap_before:
  description: C(bootstrap.servers) before the change, or null when it was not in the file.
  returned: always
  type: str
  sample: kafka-old-1:9092
bootstrap_after:
  description: C(bootstrap.servers) after the change.
  returned: always
  type: str
  sample: kafka-new-1:9093,kafka-new-2:9093
added:
  description: Client keys added to the file.
  returned: always
  type: list
  elements: str
  sample: [sasl.mechanism, sasl.jaas.config]
updated:
  description: Client keys whose value changed.
  returned: always
  type: list
  elements: str
  sample: [bootstrap.servers, security.protocol]
removed:
  description: Client keys removed from the file.
  returned: always
  type: list
  elements: str
  sample: []
mode_tightened:
  description: Whether the file's mode was (or, in check mode, would be) set to C(0600) because it holds a secret
    and was readable by group or others.
  returned: always
  type: bool
  sample: false
topic_names:
  description: For the topics of O(topic_keys), the name found in the file -> the name written (the same when it
    stays). Use it to prove the application on the cluster's topics.
  returned: always
  type: dict
  sample: {"demo.orders": "demo_orders"}
"""

import os
import stat
import tempfile

from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible_collections.kafkaops.migration.plugins.module_utils import args
from ansible_collections.kafkaops.migration.plugins.module_utils.appconfig import DIALECTS, FORMATS, plan
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import KafkaOpsError

SECRET_MODE = 0o600


def argument_spec():
    spec = args.cluster_argument_spec()
    spec.update(
        path=dict(type="path", required=True),
        format=dict(type="str", choices=list(FORMATS), default="properties"),
        create=dict(type="bool", default=False),
        dialect=dict(type="str", choices=list(DIALECTS), required=True),
        truststore=dict(type="dict", options=dict(
            location=dict(type="path", required=True),
            password=dict(type="str", no_log=True),
            type=dict(type="str", default="JKS"),
        )),
        keystore=dict(type="dict", no_log=False, options=dict(
            location=dict(type="path", required=True),
            password=dict(type="str", no_log=True),
            type=dict(type="str", default="JKS"),
            key_password=dict(type="str", no_log=True),
        )),
        settings=dict(type="dict", default={}),
        keys=dict(type="dict", no_log=False),
        prefix=dict(type="str"),
        require=dict(type="list", elements="str", default=["bootstrap.servers"]),
        remove_unused=dict(type="bool", default=True),
        backup=dict(type="bool", default=True),
        mode=dict(type="raw"),
        topic_keys=dict(type="list", elements="str", default=[], no_log=False),
        rename=dict(type="dict", default={}),
        rename_rule=dict(type="str", default="underscore", choices=["underscore", "refuse"]),
    )
    return spec


def read_file(module, path, create):
    if os.path.isdir(path):
        module.fail_json(msg="%s is a directory" % path)
    if not os.path.exists(path):
        if not create:
            module.fail_json(msg="%s does not exist (use create=true to create it)" % path)
        return None
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "surrogateescape")
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot read %s: %s" % (path, to_native(exc)))


def write_file(module, path, text, new_file, secret):
    """Write through a temporary file in the same folder and module.atomic_move (owner, group and mode kept)."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        module.fail_json(msg="the folder of %s does not exist" % path)
    if new_file and secret:
        # atomic_move gives the new file the mode of the existing one: create it private first.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_MODE))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".%s." % os.path.basename(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8", "surrogateescape"))
        module.atomic_move(tmp, path, unsafe_writes=module.params.get("unsafe_writes", False))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main():
    module = args.KafkaModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    path = p["path"]
    text = read_file(module, path, p["create"])
    new_file = text is None
    try:
        result = plan("" if new_file else text, p["format"], p["dialect"], p["cluster"], truststore=p["truststore"],
                      keystore=p["keystore"], settings=p["settings"], keys=p["keys"], prefix=p["prefix"],
                      require=p["require"], remove_unused=p["remove_unused"], new_file=new_file,
                      topic_keys=p["topic_keys"], rename=p["rename"], rename_rule=p["rename_rule"])
    except KafkaOpsError as exc:
        module.fail_json(msg=exc.msg, path=path, changed=False)
    for warning in result["warnings"]:
        module.warn(warning)

    content_changed = new_file or result["changed"]
    mode_tightened = False
    if p["mode"] is None and result["secret"] and not new_file:
        current = stat.S_IMODE(os.stat(path).st_mode)
        mode_tightened = bool(current & 0o077)
    changed = content_changed or mode_tightened
    backup_file = None
    if not module.check_mode:
        if mode_tightened:
            # tighten first: atomic_move copies the existing mode onto the new content
            os.chmod(path, SECRET_MODE)
        if content_changed:
            if p["backup"] and not new_file:
                backup_file = module.backup_local(path)
            write_file(module, path, result["text"], new_file, result["secret"])
    if p["mode"] is not None:
        if os.path.exists(to_bytes(path)) or not module.check_mode:
            changed = module.set_mode_if_different(path, p["mode"], changed)

    out = dict(
        changed=changed,
        path=path,
        format=p["format"],
        dialect=p["dialect"],
        backup_file=backup_file,
        before=result["before"],
        after=result["after"],
        bootstrap_before=result["bootstrap_before"],
        bootstrap_after=result["bootstrap_after"],
        added=result["added"],
        updated=result["updated"],
        removed=result["removed"],
        mode_tightened=mode_tightened,
        topic_names=result["topic_names"],
    )
    if module._diff:
        out["diff"] = dict(before=result["diff_before"], after=result["diff_after"],
                           before_header="%s (Kafka client keys)" % path,
                           after_header="%s (Kafka client keys)" % path)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
