"""Shared pytest set-up: the collection on sys.path, real Kafka clusters once per session."""

import json
import os
import sys
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "harness"))
sys.path.insert(0, os.path.dirname(HERE))

from tests.utils.collection import collections_root  # noqa: E402

sys.path.insert(0, collections_root())

import kafka_harness  # noqa: E402


@pytest.fixture(scope="session")
def clusters():
    """The two real clusters, as ``{"source": {...}, "target": {...}}`` module option dicts.

    Reuses the clusters named by ``KAFKAOPS_CLUSTERS_FILE`` when they answer (``kafka_harness.py run``
    and ``up --detach`` write that file); otherwise starts them for this session and stops them at
    the end. Data is wiped at each start, never between tests: tests isolate by unique names.
    """
    path = os.environ.get("KAFKAOPS_CLUSTERS_FILE")
    desc = kafka_harness.clusters_alive(path) if path else None
    owned = None
    if desc is None:
        layout = kafka_harness.Layout(
            workdir=os.environ.get("KAFKAOPS_HARNESS_DIR", os.path.join(kafka_harness.DEFAULT_WORKDIR + "-pytest")),
            base_port=int(os.environ.get("KAFKAOPS_HARNESS_BASE_PORT", 19500)))
        owned = kafka_harness.Clusters(layout)
        desc = owned.start()
    try:
        yield ClusterSet(desc)
    finally:
        if owned is not None:
            owned.stop()


class ClusterSet(dict):
    """The clusters file's content plus module-ready option dicts."""

    @staticmethod
    def options(cluster):
        keys = ("bootstrap_servers", "security_protocol", "sasl_mechanism", "sasl_username", "sasl_password")
        opts = {k: cluster[k] for k in keys if cluster.get(k)}
        opts["bootstrap_servers"] = cluster["bootstrap_servers"].split(",")
        return opts

    @property
    def source(self):
        return self.options(self["source"])

    @property
    def target(self):
        return self.options(self["target"])

    def librdkafka(self, name):
        return kafka_harness.client_config(self[name])

    def vars_file(self, tmp_path):
        """A JSON extra-vars file with ``kafka_source`` / ``kafka_target`` for ansible-playbook."""
        path = tmp_path / "clusters-vars.json"
        path.write_text(json.dumps({"kafka_source": self.source, "kafka_target": self.target}))
        return str(path)


@pytest.fixture
def unique():
    """``unique("orders")`` -> a name no other test (or earlier run) uses."""
    tag = uuid.uuid4().hex[:8]

    def make(prefix="t"):
        return "%s-%s" % (prefix, tag)

    return make
