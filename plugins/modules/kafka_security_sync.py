#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kafka_security_sync
short_description: Copy ACLs and SASL/SCRAM users from the source to the target cluster
version_added: 0.2.0
author: kafkaops.migration contributors (@kafkaops)
description:
  - Part of step 3 of the migration procedure (the target's metadata). A migrated cluster without its ACLs and users
    is not usable by its applications - this module gives the target the source's SCRAM users and ACLs.
  - Before anything else is read or written, the two clusters are compared by cluster id (DescribeCluster);
    one cluster given twice fails the task with "the source and the target are the same cluster".
  - Reads the source's ACLs with one DescribeAcls call (a match-all filter) and its SCRAM users with one
    DescribeUserScramCredentials call - names, mechanisms and iterations. Kafka never returns a password (only
    salted hashes are stored), so the passwords of the users to create are given in O(users).
  - Creates the users on the target with one AlterUserScramCredentials call (an upsertion per user and
    mechanism), and the ACLs with one CreateAcls call, after mapping principals (O(principal_map)) and topic names
    (O(rename), the same map as M(kafkaops.migration.kafka_topic_sync)).
  - A source user without a password in O(users) fails the task before any change, listing the users
    (RV(missing_passwords)), unless O(missing_password=skip) leaves them out (RV(users_skipped)).
  - Idempotent. A user that already has a credential of the mechanism on the target is left alone
    (RV(users_unchanged)) unless O(update_password=always); an ACL already on the target is left alone
    (RV(acls_unchanged)). A second run reports C(changed=false).
  - Never deletes a target user. Target ACLs of the principals the sync manages that the source does not have are
    reported in RV(extra_acls) and deleted only with O(remove_extra_acls=true).
  - The credentials of the target's own SASL user (O(target.sasl_username), the module's connection) are never
    altered, whatever the source or O(users) say (the module would lock itself out).
  - After the changes the target is described again (bounded by O(wait_timeout)); the task fails when a user or ACL
    the run claims to have created is not there (RV(not_visible)).
  - Check mode reads both clusters and reports what would change, changing nothing. With C(--diff) the target's ACLs
    (one line each) and users (name, mechanism, iterations) are shown before and after; passwords are shown as
    C(********).
options:
  users:
    description:
      - The SCRAM users the target gets, by their name on the target, with the password to give them.
      - A source user is looked up under its target name - its own name, or the name O(principal_map) gives
        C(User:<name>). An entry with no source user (for example a user for a principal mapped from a TLS
        certificate) is created too.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: User name on the target.
        type: str
        required: true
      password:
        description:
          - Password of the user. Never logged, returned, printed or shown in a diff; Kafka stores a salted hash.
        type: str
        required: true
      mechanism:
        description:
          - SCRAM mechanism of the credential. Not given, the mechanisms the user has on the source (one credential
            each, same password), or V(SCRAM-SHA-512) for a user the source does not have.
          - The target's listener must enable the mechanism (C(sasl.enabled.mechanisms)) for the user to log in.
        type: str
        choices: [SCRAM-SHA-256, SCRAM-SHA-512]
      iterations:
        description:
          - Iterations of the credential, 4096 to 16384. Not given, the source credential's, or 4096.
        type: int
  missing_password:
    description:
      - What happens to a selected source user that has no entry in O(users).
      - V(fail) fails the task before anything is changed, listing the users in RV(missing_passwords).
      - V(skip) leaves them out and lists them in RV(users_skipped); their applications cannot log in to the target
        until their users are created.
    type: str
    choices: [fail, skip]
    default: fail
  update_password:
    description:
      - V(on_create) sets the password of a credential (user and mechanism) only when the target does not have it;
        an existing one is left alone, even when its iterations differ (reported in RV(users_unchanged) with
        C(target_iterations)).
      - V(always) writes the credential of every user in O(users) on every run (Kafka cannot say whether a stored
        salted hash matches a password, so the task then always reports C(changed)), like community.postgresql's
        C(update_password).
    type: str
    choices: [on_create, always]
    default: on_create
  principal_map:
    description:
      - Source principal to target principal, for example C(User:CN=app1,OU=apps) to C(User:app1) when the source
        authenticated with TLS certificates and the target with SCRAM. Applied to the principals of the ACLs and to
        the source's SCRAM users (C(User:<name>)).
      - Both sides must be principals of the form C(Type:name). Principals not in the map stay the same.
    type: dict
    default: {}
  principal_include:
    description:
      - Regular expressions matched against the whole source principal (C(User:app1)); only the ACLs and SCRAM
        users of matching principals are copied. Not given, all.
    type: list
    elements: str
  principal_exclude:
    description:
      - Regular expressions of source principals not copied, for example the source's own admin (C(User:admin)).
    type: list
    elements: str
    default: []
  resource_types:
    description:
      - Resource types whose ACLs are copied.
    type: list
    elements: str
    choices: [TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID]
    default: [TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID]
  resource_include:
    description:
      - Regular expressions matched against the whole resource name of an ACL on the source (a topic, a group, a
        transactional id, a prefix, C(*) or C(kafka-cluster)); only matching ACLs are copied. Not given, all.
    type: list
    elements: str
  resource_exclude:
    description:
      - Regular expressions of resource names whose ACLs are not copied.
    type: list
    elements: str
    default: []
  sync_users:
    description:
      - Copy the SCRAM users (and create the O(users)). V(false) leaves users alone.
    type: bool
    default: true
  sync_acls:
    description:
      - Copy the ACLs. V(false) leaves ACLs alone.
    type: bool
    default: true
  remove_extra_acls:
    description:
      - Delete the target ACLs reported in RV(extra_acls) - ACLs of a principal this sync manages (the target
        principal of a copied ACL or user) that match the resource selection and that the source does not have.
        Never ACLs of the target's own SASL user.
      - V(false) only reports them.
    type: bool
    default: false
  rename:
    description:
      - Target topic names for source topics (source topic to target topic), the same map as
        M(kafkaops.migration.kafka_topic_sync)'s O(kafkaops.migration.kafka_topic_sync#module:rename); TOPIC ACLs
        with a LITERAL or PREFIXED name in the map get the target name. The wildcard C(*) is never renamed.
      - A PREFIXED ACL that covers a renamed topic on the source but not its target name gives a warning.
      - The backup topics of the drain procedure (O(kafkaops.migration.kafka_topic_sync#module:target_prefix)) are
        read by no application, so no ACL is made for them.
    type: dict
    default: {}
  rename_rule:
    description:
      - As in M(kafkaops.migration.kafka_topic_sync); matters only for targets that refuse some topic names.
    type: str
    choices: [underscore, refuse]
    default: underscore
  wait_timeout:
    description:
      - Seconds to wait, after the changes, until the target shows every created user and ACL (and no removed ACL).
        What is still not shown then is listed in RV(not_visible) and the task fails. Never waits past O(timeout).
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
  - Client quotas (C(kafka-configs.sh --entity-type users/clients)) are not migrated. The Kafka client of the
    collection, confluent-kafka (librdkafka), has no DescribeClientQuotas / AlterClientQuotas call (checked with
    confluent-kafka 2.16.1), and the module does not fake it. List the source's quotas with
    C(kafka-configs.sh --bootstrap-server SOURCE --describe --entity-type users) and C(--entity-type clients)
    (also C(--entity-type users --entity-type clients) for user and client pairs), and set them on the target with
    C(kafka-configs.sh --bootstrap-server TARGET --command-config admin.properties --alter --entity-type users
    --entity-name app1 --add-config producer_byte_rate=1048576,consumer_byte_rate=2097152).
  - Delegation tokens and ACLs on resource types confluent-kafka does not know (C(DELEGATION_TOKEN), C(USER)) are
    not copied; such ACLs are listed in RV(acls_skipped).
  - The source needs an authorizer to have ACLs; a source without one (SECURITY_DISABLED) gives a warning and no
    ACLs. Copying ACLs to a target without an authorizer fails before anything is changed.
  - A target with O(target.api=alibaba) is refused before anything is read - an ApsaraMQ for Kafka instance's SASL
    users and ACLs are managed through its OpenAPI, which this module does not call yet.
seealso:
  - module: kafkaops.migration.kafka_topic_sync
"""

EXAMPLES = r"""
- name: Preview the users and ACLs the target would get (nothing is changed)
  kafkaops.migration.kafka_security_sync:
    source: "{{ kafka_source }}"
    target: "{{ kafka_target }}"
    missing_password: skip
  check_mode: true
  diff: true

- name: Copy the SCRAM users (passwords from the vault) and every ACL
  kafkaops.migration.kafka_security_sync:
    source: "{{ kafka_source }}"
    target: "{{ kafka_target }}"
    users:
      - name: billing
        password: "{{ vault_billing_password }}"
      - name: orders-api
        password: "{{ vault_orders_password }}"
        mechanism: SCRAM-SHA-512
    principal_exclude: ['User:admin']
  register: security

- name: From TLS client certificates on the source to SCRAM users on the target
  kafkaops.migration.kafka_security_sync:
    source: "{{ kafka_source }}"
    target: "{{ kafka_target }}"
    principal_map:
      "User:CN=app1,OU=apps,O=example": "User:app1"
    users:
      - name: app1
        password: "{{ vault_app1_password }}"
    rename: {orders.v1: orders-v1}       # the same map as kafka_topic_sync
"""

RETURN = r"""
users_created:
  description:
    - Credentials created on the target (in check mode, that would be created), one per user and mechanism -
      C(name), C(mechanism), C(iterations), and C(source_user) when the principal map renamed the user. Never a password.
  returned: always
  type: list
  elements: dict
  sample: [{name: billing, mechanism: SCRAM-SHA-512, iterations: 4096}]
users_updated:
  description: Credentials written again with O(update_password=always).
  returned: always
  type: list
  elements: dict
  sample: []
users_unchanged:
  description:
    - Credentials the target already had, left alone (C(target_iterations) when its iterations differ).
  returned: always
  type: list
  elements: dict
  sample: [{name: orders-api, mechanism: SCRAM-SHA-512, iterations: 4096}]
users_skipped:
  description:
    - Users not created, with the reason (no password with O(missing_password=skip), the target's own SASL user,
      a principal mapped to a non-User principal). Named so because C(skipped) is reserved in Ansible results.
  returned: always
  type: dict
  sample: {reporting: no password given in users (missing_password=skip)}
missing_passwords:
  description: Source users without a password in O(users) (O(missing_password=fail)); nothing was changed.
  returned: when the task failed for them
  type: list
  elements: str
  sample: [reporting]
extra_users:
  description: SCRAM users on the target that the source and O(users) do not have (never deleted).
  returned: always
  type: list
  elements: str
  sample: [ops]
acls_created:
  description:
    - ACLs created on the target (in check mode, that would be created), each with C(principal), C(host),
      C(operation), C(permission), C(resource_type), C(pattern_type), C(resource_name), and C(source_principal)
      when O(principal_map) changed the principal.
  returned: always
  type: list
  elements: dict
  sample:
    - {principal: "User:app1", source_principal: "User:CN=app1,OU=apps", host: "*", operation: READ,
       permission: ALLOW, resource_type: TOPIC, pattern_type: LITERAL, resource_name: orders}
acls_unchanged:
  description: Selected source ACLs the target already has (after mapping).
  returned: always
  type: list
  elements: dict
  sample: []
acls_skipped:
  description: Source ACLs that cannot be copied, with C(reason) (a resource type the client does not know).
  returned: always
  type: list
  elements: dict
  sample: []
extra_acls:
  description:
    - Target ACLs of the principals the sync manages, within the resource selection, that the source does not have.
      Deleted only with O(remove_extra_acls=true).
  returned: always
  type: list
  elements: dict
  sample: []
acls_removed:
  description: Extra ACLs deleted (would be deleted in check mode) with O(remove_extra_acls=true).
  returned: always
  type: list
  elements: dict
  sample: []
failed_users:
  description: Users whose credential the target refused, with the error; the task then fails.
  returned: always
  type: dict
  sample: {}
failed_acls:
  description: ACLs the target refused to create or delete, each with C(error); the task then fails.
  returned: always
  type: list
  elements: dict
  sample: []
not_visible:
  description:
    - What the run created (C(users), C(acls)) or removed (C(not_removed)) that the target did not show within
      O(wait_timeout); the task fails when any is not empty.
  returned: when something was changed
  type: dict
  sample: {users: [], acls: [], not_removed: []}
summary:
  description: Counts of each list above, and of the target's ACLs and users before the run.
  returned: always
  type: dict
  sample: {users_created: 2, users_unchanged: 0, acls_created: 5, acls_unchanged: 0, extra_acls: 0, target_acls: 0}
check_mode:
  description: Whether the run was in check mode (nothing changed).
  returned: always
  type: bool
  sample: false
timings:
  description: Seconds spent reading both clusters, applying, proving, in total.
  returned: always
  type: dict
  sample: {read: 0.2, apply: 0.1, verify: 0.3, total: 0.6}
invalid:
  description: Per option, why it is invalid; nothing was read or changed.
  returned: when validation failed
  type: dict
  sample: {"users[app1]": "password must be a non-empty string"}
cluster_id:
  description: The one cluster id of the source and target, when they are the same cluster (the task fails).
  returned: when the source and the target are one cluster
  type: str
  sample: MkU3OEVBNTcwNTJENDM2Qg
"""

from ansible_collections.kafkaops.migration.plugins.module_utils import admin, args
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import KafkaOpsError
from ansible_collections.kafkaops.migration.plugins.module_utils.security import RESOURCE_TYPES, SecurityOptions, sync
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline


def argument_spec():
    spec = args.source_target_argument_spec()
    spec.update(
        users=dict(type="list", elements="dict", default=[], options=dict(
            name=dict(type="str", required=True),
            password=dict(type="str", required=True, no_log=True),
            mechanism=dict(type="str", choices=["SCRAM-SHA-256", "SCRAM-SHA-512"]),
            iterations=dict(type="int"),
        )),
        missing_password=dict(type="str", choices=["fail", "skip"], default="fail"),
        update_password=dict(type="str", choices=["on_create", "always"], default="on_create", no_log=False),
        principal_map=dict(type="dict", default={}),
        principal_include=dict(type="list", elements="str"),
        principal_exclude=dict(type="list", elements="str", default=[]),
        resource_types=dict(type="list", elements="str", choices=list(RESOURCE_TYPES), default=list(RESOURCE_TYPES)),
        resource_include=dict(type="list", elements="str"),
        resource_exclude=dict(type="list", elements="str", default=[]),
        sync_users=dict(type="bool", default=True),
        sync_acls=dict(type="bool", default=True),
        remove_extra_acls=dict(type="bool", default=False),
        rename=dict(type="dict", default={}),
        rename_rule=dict(type="str", choices=["underscore", "refuse"], default="underscore"),
        wait_timeout=dict(type="float", default=30.0),
    )
    return spec


def main():
    module = args.KafkaModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    try:
        if p["wait_timeout"] < 0:
            raise KafkaOpsError("wait_timeout must not be negative", invalid={"wait_timeout": "must not be negative"})
        options = SecurityOptions(
            users=p["users"], missing_password=p["missing_password"], update_password=p["update_password"],
            principal_map=p["principal_map"], principal_include=p["principal_include"],
            principal_exclude=p["principal_exclude"], resource_include=p["resource_include"],
            resource_exclude=p["resource_exclude"], resource_types=p["resource_types"], sync_users=p["sync_users"],
            sync_acls=p["sync_acls"], remove_extra_acls=p["remove_extra_acls"], rename=p["rename"],
            rename_rule=p["rename_rule"], target=p["target"])
    except KafkaOpsError as exc:
        module.fail_json(msg=exc.msg, changed=False, **exc.details)
    deadline = Deadline(p["timeout"])
    source, target = args.clusters(module, ["source", "target"], deadline)
    try:
        # one cluster given twice (two spellings of its address) is refused before anything else
        admin.ensure_distinct(source, target)
        result, diff = sync(source, target, options, check_mode=module.check_mode, wait_timeout=p["wait_timeout"])
    except KafkaOpsError as exc:
        details = dict(exc.details)
        details.setdefault("changed", False)
        module.fail_json(msg=exc.msg, **details)
    result["duration"] = round(deadline.elapsed(), 3)
    for warning in result.pop("warnings"):
        module.warn(warning)
    if module._diff and result["changed"]:
        result["diff"] = diff
    problems = []
    if result["failed_users"]:
        problems.append("%d user(s) refused by the target: %s" % (len(result["failed_users"]), "; ".join(
            "%s: %s" % kv for kv in sorted(result["failed_users"].items())[:5])))
    if result["failed_acls"]:
        problems.append("%d ACL(s) refused by the target: %s" % (len(result["failed_acls"]), "; ".join(
            "%s %s:%s: %s" % (a["principal"], a["resource_type"], a["resource_name"], a["error"])
            for a in result["failed_acls"][:5])))
    missing = result.get("not_visible") or {}
    if any(missing.values()):
        problems.append("the target does not show what was changed after %.0f s: users %s, ACLs %s, ACLs not removed %s" % (
            p["wait_timeout"], ", ".join("%s (%s)" % (u["name"], u["mechanism"]) for u in missing["users"]) or "none",
            len(missing["acls"]), len(missing["not_removed"])))
    if problems:
        module.fail_json(msg="; ".join(problems), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
