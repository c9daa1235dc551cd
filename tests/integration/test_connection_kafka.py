"""The connection helper against the real clusters: reachability, SCRAM, bounded failures."""

import time

import pytest

from ansible_collections.kafkaops.migration.plugins.module_utils.connection import Cluster, KafkaOpsError
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline

pytestmark = pytest.mark.kafka


def test_describe_source_sees_three_zookeeper_brokers(clusters):
    info = Cluster(clusters.source, "source").describe()
    assert [b["id"] for b in info["brokers"]] == [0, 1, 2]
    assert info["controller_id"] in (0, 1, 2)


def test_describe_target_over_scram(clusters):
    info = Cluster(clusters.target, "target").describe()
    assert len(info["brokers"]) == clusters["target"]["brokers"]


def test_wrong_password_fails_fast_naming_cluster_and_cause(clusters):
    opts = dict(clusters.target, sasl_password="wrong", request_timeout=4)
    t0 = time.monotonic()
    with pytest.raises(KafkaOpsError) as err:
        Cluster(opts, "target").describe()
    assert time.monotonic() - t0 < 10
    msg = err.value.msg
    assert msg.startswith("target cluster (")
    assert "uthentication" in msg
    assert "wrong" not in msg


def test_unreachable_address_fails_within_module_timeout():
    opts = {"bootstrap_servers": ["127.0.0.1:1"], "request_timeout": 30}
    t0 = time.monotonic()
    with pytest.raises(KafkaOpsError) as err:
        Cluster(opts, "source", deadline=Deadline(3)).describe()
    assert time.monotonic() - t0 < 6
    assert "source cluster (127.0.0.1:1)" in err.value.msg
