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
    """The clusters file's content plus module-ready option dicts.

    ``target_sasl_ssl`` and ``target_mtls`` are the target's TLS listeners (the test CA trusted, the host
    name verified); ``tls`` is the clusters file's ``target.tls`` (listeners, CA, client certificate, wrong
    CA, Java stores); ``on_tls(listener)`` is this set with the target reached over one of them."""

    TLS_LISTENERS = ("sasl_ssl", "ssl")

    @staticmethod
    def options(cluster):
        keys = ("bootstrap_servers", "security_protocol", "sasl_mechanism", "sasl_username", "sasl_password",
                "ssl_ca_location", "ssl_certificate_location", "ssl_key_location", "ssl_key_password")
        opts = {k: cluster[k] for k in keys if cluster.get(k)}
        opts["bootstrap_servers"] = cluster["bootstrap_servers"].split(",")
        if cluster.get("security_protocol") in ("SSL", "SASL_SSL"):
            opts["ssl_check_hostname"] = True
        return opts

    @property
    def source(self):
        return self.options(self["source"])

    @property
    def target(self):
        return self.options(self["target"])

    @property
    def tls(self):
        """The target's TLS details from the clusters file (fails the test when the file has none)."""
        tls = self["target"].get("tls")
        if not tls:
            pytest.fail("the clusters file has no TLS listeners for the target (written by an older harness?): "
                        "restart the clusters (kafka_harness.py down, then up)")
        return tls

    def tls_entry(self, listener):
        """The target as a clusters-file entry for its ``sasl_ssl`` or ``ssl`` (mutual TLS) listener."""
        assert listener in self.TLS_LISTENERS, listener
        tls, target = self.tls, self["target"]
        entry = dict((k, v) for k, v in target.items() if k != "tls")
        entry.update(bootstrap_servers=tls[listener + "_bootstrap_servers"], security_protocol=listener.upper(),
                     ssl_ca_location=tls["ca_location"])
        if listener == "ssl":
            for key in ("sasl_mechanism", "sasl_username", "sasl_password"):
                entry.pop(key, None)
            entry.update(ssl_certificate_location=tls["client_certificate_location"],
                         ssl_key_location=tls["client_key_location"])
        return entry

    @property
    def target_sasl_ssl(self):
        """Module options for the target's SASL_SSL listener: SCRAM, the test CA, host name verified."""
        return self.options(self.tls_entry("sasl_ssl"))

    @property
    def target_mtls(self):
        """Module options for the target's SSL listener with a client certificate (mutual TLS)."""
        return self.options(self.tls_entry("ssl"))

    def on_tls(self, listener):
        """This set with the target reached over its ``sasl_ssl`` or ``ssl`` listener (``target``,
        ``librdkafka("target")``, ``vars_file`` and ``["target"]["bootstrap_servers"]`` follow)."""
        return ClusterSet(dict(self, target=self.tls_entry(listener)))

    def librdkafka(self, name):
        """librdkafka settings for ``source`` or ``target`` (the TLS ones when this set is ``on_tls``)."""
        conf = kafka_harness.client_config(self[name])
        for opt, key in (("ssl_ca_location", "ssl.ca.location"),
                         ("ssl_certificate_location", "ssl.certificate.location"),
                         ("ssl_key_location", "ssl.key.location")):
            if self[name].get(opt):
                conf[key] = self[name][opt]
        if self[name].get("ssl_ca_location"):
            conf["ssl.endpoint.identification.algorithm"] = "https"
        return conf

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
