# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible glue shared by every module: argument specs, the required-library check, clusters.

The options are documented once in ``plugins/doc_fragments/connection.py`` and ``wait.py``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import (
    CLUSTER_OPTION_SPEC,
    CONFLUENT_KAFKA_IMPORT_ERROR,
    HAS_CONFLUENT_KAFKA,
    Cluster,
    KafkaOpsError,
)
from ansible_collections.kafkaops.migration.plugins.module_utils.secrets import secret_values
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import WAIT_OPTION_SPEC


class KafkaModule(AnsibleModule):
    """An AnsibleModule that also hides the secrets given in free-form settings.

    A password can be given as ``config: {sasl.password: ...}`` (or in kafka_client_config's
    ``settings``, or MirrorMaker 2's ``config``); Ansible masks only options declared ``no_log``.
    The values are added to ``no_log_values`` right after the arguments are read, before they are
    validated, logged (syslog / journal) or returned, so ``invocation.module_args``, messages,
    warnings and diffs show ``********`` in their place, on success and on failure.
    """

    def _load_params(self):
        super(KafkaModule, self)._load_params()
        self.no_log_values.update(secret_values(self.params))

    def __init__(self, *args, **kwargs):
        super(KafkaModule, self).__init__(*args, **kwargs)
        self.no_log_values.update(secret_values(self.params))


def cluster_option(required=True):
    """One cluster dict option (``source``, ``target`` or ``cluster``)."""
    return dict(type="dict", required=required, options=copy.deepcopy(CLUSTER_OPTION_SPEC))


def source_target_argument_spec(timeout=120.0):
    return dict(source=cluster_option(), target=cluster_option(), timeout=dict(type="float", default=timeout))


def cluster_argument_spec(timeout=120.0):
    return dict(cluster=cluster_option(), timeout=dict(type="float", default=timeout))


def wait_argument_spec(**defaults):
    spec = copy.deepcopy(WAIT_OPTION_SPEC)
    for key, value in defaults.items():
        spec[key]["default"] = value
    return spec


def ensure_required_libs(module):
    if not HAS_CONFLUENT_KAFKA:
        module.fail_json(msg=missing_required_lib("confluent-kafka"), exception=CONFLUENT_KAFKA_IMPORT_ERROR)


def clusters(module, names, deadline):
    """Build a :class:`Cluster` per option name; bad options fail the task with a clear message."""
    ensure_required_libs(module)
    if module.params.get("timeout") is not None and module.params["timeout"] <= 0:
        module.fail_json(msg="timeout must be positive")
    out = []
    for name in names:
        try:
            out.append(Cluster(module.params[name], name=name, deadline=deadline))
        except KafkaOpsError as exc:
            module.fail_json(msg=exc.msg)
    return out
