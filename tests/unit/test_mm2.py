"""MirrorMaker 2 engine without Kafka: options, connector configs, diff and masking, status, lag, REST bounds."""

import socket
import time

import pytest

from ansible_collections.kafkaops.migration.plugins.module_utils import admin, mm2
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import KafkaOpsError
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline

SOURCE = {"bootstrap_servers": ["a:9092", "b:9092"], "security_protocol": "PLAINTEXT"}
TARGET = {"bootstrap_servers": ["t1:9093"], "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
          "sasl_username": "admin", "sasl_password": 'pa"ss\\word', "ssl_ca_location": "/ca.pem",
          "ssl_check_hostname": False}


def pem(path, what, name):
    return "PEM(%s)" % path


def opts(**mm2_opts):
    base = {"connect_url": "http://connect:8083/"}
    base.update(mm2_opts)
    return mm2.mm2_options({"mirrormaker2": base})


def configs(o=None, names=("orders.v1",), patterns=(), eos=True):
    return mm2.build_connector_configs(o or opts(), SOURCE, TARGET, list(names), list(patterns),
                                       exactly_once=eos, read_pem=pem)


# -- options ------------------------------------------------------------------------------------
def test_defaults_are_filled_and_url_normalized():
    o = opts()
    assert o["connect_url"] == "http://connect:8083"
    assert o["exactly_once"] == "auto" and o["checkpoints"] is True and o["heartbeats"] is False
    assert o["groups"] == [".*"] and o["replication_factor"] == -1 and o["state"] == "present"
    assert set(o) == set(mm2.MM2_OPTION_SPEC)


def test_spec_marks_the_password_no_log():
    assert mm2.MM2_OPTION_SPEC["password"]["no_log"] is True


@pytest.mark.parametrize("bad, fragment", [
    ({"connect_url": "connect:8083"}, "http:// or https://"),
    ({"connector_prefix": "a b"}, "connector_prefix"),
    ({"source_alias": "x", "target_alias": "x"}, "must differ"),
    ({"tasks_max": 0}, "tasks_max"),
    ({"replication_factor": 0}, "replication_factor"),
    ({"password": "p"}, "needs mirrormaker2.username"),
    ({"connector_config": {"sink": {}}}, "sink"),
    ({"groups": ["a{1,2}"]}, "comma"),
    ({"groups": ["("]}, "not a valid regular expression"),
])
def test_bad_options_fail_with_a_message_naming_the_option(bad, fragment):
    with pytest.raises(KafkaOpsError) as err:
        opts(**bad)
    assert fragment in err.value.msg


def test_missing_mirrormaker2_option_is_explained():
    with pytest.raises(KafkaOpsError, match="needs the mirrormaker2 option"):
        mm2.mm2_options({"mirrormaker2": None})


def test_topic_selection_needs_something_and_checks_names():
    with pytest.raises(KafkaOpsError, match="at least one topic"):
        mm2.topic_selection({"topics": [], "include": None})
    with pytest.raises(KafkaOpsError, match="not a valid Kafka topic name"):
        mm2.topic_selection({"topics": ["bad topic"]})
    assert mm2.topic_selection({"topics": ["a"], "include": ["b.*"]}) == (["a"], ["b.*"])
    # the old option names, as kafka_mirror passed them before include/exclude
    assert mm2.topic_selection({"topics": [], "topic_patterns": ["b.*"]}) == ([], ["b.*"])


def test_topic_names_become_exact_regexes_and_patterns_stay():
    assert mm2.topics_regex_list(["orders.v1", "pay-ments", "orders.v1"], ["audit-.*"]) == r"orders\.v1,pay-ments,audit-.*"


def test_names_the_source_connector_would_skip_are_found():
    # internal by the collection's rule, or never replicated by MirrorMaker 2 itself (ReplicationPolicy.isInternalTopic)
    names = ["a.internal", "x-internal", "b.replica", "__c", ".hidden", "ok", "internal", "heartbeats", "_schemas",
             "connect-offsets", "src.checkpoints.internal"]
    assert mm2.excluded_by_default(names) == ["a.internal", "x-internal", "__c", ".hidden", "heartbeats", "_schemas",
                                              "connect-offsets", "src.checkpoints.internal"]
    assert mm2.never_replicated("heartbeats") == "internal topic (MirrorMaker 2)"
    assert "never replicates" in mm2.never_replicated("orders.internal")


# -- Java client settings -----------------------------------------------------------------------
def test_plaintext_cluster_settings():
    assert mm2.java_client_config(SOURCE, "source") == {"bootstrap.servers": "a:9092,b:9092", "security.protocol": "PLAINTEXT"}


def test_scram_over_tls_settings_quote_the_jaas_values_and_inline_the_ca():
    conf = mm2.java_client_config(TARGET, "target", read_pem=pem)
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512"
    assert conf["sasl.jaas.config"] == ('org.apache.kafka.common.security.scram.ScramLoginModule required '
                                        'username="admin" password="pa\\"ss\\\\word";')
    assert conf["ssl.truststore.type"] == "PEM" and conf["ssl.truststore.certificates"] == "PEM(/ca.pem)"
    assert conf["ssl.endpoint.identification.algorithm"] == ""


def test_plain_mechanism_uses_the_plain_login_module():
    conf = mm2.java_client_config(dict(TARGET, sasl_mechanism="PLAIN", security_protocol="SASL_PLAINTEXT"), "t")
    assert conf["sasl.jaas.config"].startswith("org.apache.kafka.common.security.plain.PlainLoginModule required ")
    assert "ssl.truststore.certificates" not in conf


def test_mutual_tls_reads_certificate_and_key_files(tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\nY\n-----END PRIVATE KEY-----\n")
    conf = mm2.java_client_config({"bootstrap_servers": "h:1", "security_protocol": "SSL", "ssl_certificate_location": str(cert),
                                   "ssl_key_location": str(key), "ssl_key_password": "kp"}, "source")
    assert conf["ssl.keystore.type"] == "PEM"
    assert conf["ssl.keystore.certificate.chain"].startswith("-----BEGIN CERTIFICATE-----")
    assert conf["ssl.keystore.key"].endswith("-----END PRIVATE KEY-----")
    assert conf["ssl.key.password"] == "kp"


def test_unreadable_tls_file_names_cluster_and_option():
    with pytest.raises(KafkaOpsError, match="source: cannot read ssl_ca_location /nonexistent.pem"):
        mm2.java_client_config({"bootstrap_servers": "h:1", "security_protocol": "SSL", "ssl_ca_location": "/nonexistent.pem"}, "source")


def test_sasl_without_credentials_is_refused():
    with pytest.raises(KafkaOpsError, match="needs sasl_mechanism"):
        mm2.java_client_config({"bootstrap_servers": "h:1", "security_protocol": "SASL_PLAINTEXT"}, "target")


# -- connector configs --------------------------------------------------------------------------
def test_default_deployment_is_source_and_checkpoint_with_identity_policy():
    out = configs()
    assert sorted(out) == ["kafkaops-mm2-checkpoint", "kafkaops-mm2-source"]
    src = out["kafkaops-mm2-source"]
    assert src["connector.class"] == "org.apache.kafka.connect.mirror.MirrorSourceConnector"
    assert src["name"] == "kafkaops-mm2-source"
    assert src["replication.policy.class"] == "org.apache.kafka.connect.mirror.IdentityReplicationPolicy"
    for key in ("key.converter", "value.converter", "header.converter"):
        assert src[key] == "org.apache.kafka.connect.converters.ByteArrayConverter"
    assert src["topics"] == r"orders\.v1"
    assert src["source.cluster.bootstrap.servers"] == "a:9092,b:9092"
    assert src["target.cluster.sasl.mechanism"] == "SCRAM-SHA-512"
    assert src["source.consumer.isolation.level"] == "read_committed"
    assert src["exactly.once.support"] == "required"
    assert src["replication.factor"] == "-1" and src["offset-syncs.topic.location"] == "target"
    assert all(isinstance(v, str) for c in out.values() for v in c.values())
    chk = out["kafkaops-mm2-checkpoint"]
    assert chk["sync.group.offsets.enabled"] == "true" and chk["groups"] == ".*"
    assert "exactly.once.support" not in chk and "topics" not in chk


def test_without_exactly_once_the_source_still_reads_committed():
    src = configs(eos=False)["kafkaops-mm2-source"]
    assert "exactly.once.support" not in src
    assert src["source.consumer.isolation.level"] == "read_committed"


def test_heartbeats_on_checkpoints_off_changes_the_set_of_connectors():
    out = configs(opts(heartbeats=True, checkpoints=False, connector_prefix="p"))
    assert sorted(out) == ["p-heartbeat", "p-source"]
    assert out["p-heartbeat"]["connector.class"].endswith("MirrorHeartbeatConnector")
    assert out["p-heartbeat"]["tasks.max"] == "1"


def test_extra_config_applies_to_all_then_per_connector_and_wins_over_ours():
    o = opts(config={"refresh.topics.interval.seconds": 30, "tasks.max": 8},
             connector_config={"source": {"sync.topic.acls.enabled": True, "topics.exclude": ["x", "y"]}})
    out = configs(o)
    src, chk = out["kafkaops-mm2-source"], out["kafkaops-mm2-checkpoint"]
    assert src["refresh.topics.interval.seconds"] == chk["refresh.topics.interval.seconds"] == "30"
    assert src["tasks.max"] == "8"
    assert src["sync.topic.acls.enabled"] == "true" and src["topics.exclude"] == "x,y"
    assert "topics.exclude" not in chk


def test_extra_config_cannot_rename_or_retype_a_connector():
    out = configs(opts(config={"name": "other", "connector.class": "x.Y"}))
    assert out["kafkaops-mm2-source"]["name"] == "kafkaops-mm2-source"
    assert out["kafkaops-mm2-source"]["connector.class"].endswith("MirrorSourceConnector")


# -- plan, diff, masking ------------------------------------------------------------------------
def test_plan_creates_updates_keeps_and_deletes():
    want = configs()
    src, chk = "kafkaops-mm2-source", "kafkaops-mm2-checkpoint"
    ours = [src, chk, "kafkaops-mm2-heartbeat"]
    assert mm2.plan_changes({}, want, ours) == {src: "create", chk: "create"}
    current = {src: {"config": dict(want[src])}, chk: {"config": dict(want[chk], groups="g.*")},
               "kafkaops-mm2-heartbeat": {"config": {"name": "kafkaops-mm2-heartbeat"}}}
    assert mm2.plan_changes(current, want, ours) == {src: "none", chk: "update", "kafkaops-mm2-heartbeat": "delete"}


def test_an_extra_key_in_the_running_config_counts_as_a_change():
    want = configs()
    name = "kafkaops-mm2-source"
    current = {name: {"config": dict(want[name], **{"emit.heartbeats.enabled": "false"})}}
    assert mm2.plan_changes(current, want, [name])[name] == "update"


def test_diff_masks_secrets_and_marks_a_changed_secret():
    want = configs()
    name = "kafkaops-mm2-source"
    have = dict(want[name])
    have["target.cluster.sasl.jaas.config"] = mm2.jaas_config("SCRAM-SHA-512", "admin", "old-secret")
    have["tasks.max"] = "2"
    diff = mm2.make_diff({name: {"config": have}}, want, {name: "update"})
    text = repr(diff)
    assert "old-secret" not in text and "word" not in text
    assert diff["before"][name]["target.cluster.sasl.jaas.config"] == "********"
    assert diff["after"][name]["target.cluster.sasl.jaas.config"] == "******** (changed)"
    assert diff["before"][name]["tasks.max"] == "2" and diff["after"][name]["tasks.max"] == "4"


def test_secret_keys_are_recognised():
    for key in ("target.cluster.sasl.jaas.config", "source.cluster.ssl.key.password", "source.cluster.ssl.keystore.key",
                "consumer.basic.auth.credentials", "x.client.secret"):
        assert mm2.is_secret(key), key
    for key in ("topics", "source.cluster.ssl.keystore.certificate.chain", "target.cluster.sasl.mechanism"):
        assert not mm2.is_secret(key), key


def test_diff_of_absent_shows_before_only():
    want = configs()
    current = dict((n, {"config": c}) for n, c in want.items())
    plan = mm2.plan_changes(current, {}, list(want))
    diff = mm2.make_diff(current, {}, plan)
    assert diff["after"] == {} and sorted(diff["before"]) == sorted(want)


# -- status -------------------------------------------------------------------------------------
STATUS = {"name": "p-source", "connector": {"state": "RUNNING", "worker_id": "w:8083"},
          "tasks": [{"id": 1, "state": "RUNNING", "worker_id": "w:8083"},
                    {"id": 0, "state": "FAILED", "worker_id": "w:8083", "trace": "org.Boom: no\n\tat a\n\tat b"}]}


def test_status_summary_sorts_tasks_and_reports_the_failed_trace():
    summary = mm2.summarize_status(STATUS, "source")
    assert [t["id"] for t in summary["tasks"]] == [0, 1]
    assert not mm2.is_running(summary, "source")
    msg = mm2.failure_of("p-source", summary)
    assert msg.startswith("connector p-source task 0 FAILED on w:8083: org.Boom: no")


def test_running_needs_a_task_for_the_source_connector_only():
    empty = mm2.summarize_status({"connector": {"state": "RUNNING"}, "tasks": []})
    assert not mm2.is_running(empty, "source")
    assert mm2.is_running(empty, "checkpoint")
    assert mm2.summarize_status(None)["state"] == "ABSENT"


def test_tasks_have_config_detects_a_stale_task():
    want = {"name": "p-source", "topics": "a", "tasks.max": "2"}
    fresh = [{"config": {"topics": "a", "tasks.max": "2", "task.index": "0"}}]
    stale = fresh + [{"config": {"topics": "old", "tasks.max": "2"}}]
    assert mm2.tasks_have_config(fresh, want)
    assert not mm2.tasks_have_config(stale, want)
    assert not mm2.tasks_have_config(None, want)


def test_tasks_have_config_needs_the_status_to_list_the_configured_tasks():
    want = {"topics": "a"}
    configs_now = [{"id": {"connector": "c", "task": 0}, "config": {"topics": "a"}},
                   {"id": {"connector": "c", "task": 1}, "config": {"topics": "a"}}]
    old_status = [{"id": 0, "state": "RUNNING"}, {"id": 1, "state": "RUNNING"}, {"id": 2, "state": "RUNNING"}]
    assert not mm2.tasks_have_config(configs_now, want, old_status)
    assert mm2.tasks_have_config(configs_now, want, old_status[:2])


# -- lag ----------------------------------------------------------------------------------------
def test_lag_counts_from_the_offset_after_the_last_copied_record():
    offsets = [{"partition": {"cluster": "source", "topic": "t", "partition": 0}, "offset": {"offset": 9}},
               {"partition": {"cluster": "other", "topic": "t", "partition": 1}, "offset": {"offset": 99}}]
    positions = mm2.committed_positions(offsets, "source")
    assert positions == {("t", 0): 10}
    lag = mm2.compute_lag(positions, {("t", 0): 0, ("t", 1): 5}, {("t", 0): 15, ("t", 1): 8})
    assert lag["total"] == 5 + 3
    assert lag["partitions"][1] == {"topic": "t", "partition": 1, "log_end_offset": 8, "next_offset": None, "lag": 3,
                                    "status": "unknown"}


def test_copy_lag_uses_the_one_lag_definition():
    from ansible_collections.kafkaops.migration.plugins.module_utils.admin import ProbeFacts
    # copied up to the commit marker at 10: end 11; the marker proven empty by a probe -> 0
    facts = ProbeFacts()
    facts.add_free(("t", 0), 10, 11)
    lag = mm2.compute_lag({("t", 0): 10}, {("t", 0): 0}, {("t", 0): 11}, {("t", 0): 11}, facts)
    assert lag["total"] == 0 and lag["partitions"][0]["status"] == "drained"
    # a transaction still open after the position (LSO 10 < end 14) is never done
    lag = mm2.compute_lag({("t", 0): 10}, {("t", 0): 0}, {("t", 0): 14}, {("t", 0): 10})
    assert lag["partitions"][0]["status"] == "open_transaction" and lag["total"] == 4


def test_topics_for_lag_follow_names_and_patterns_but_not_excluded_ones():
    assert mm2.select_topics(["a", "b1", "b2", "c", "b.internal"], ["a"], ["b.*"]) == ["a", "b1", "b2"]
    # the one internal rule: '.*' never selects _schemas, connect-offsets or heartbeats
    assert mm2.select_topics(["_schemas", "connect-offsets", "heartbeats", "x.heartbeats", "orders"], [], [".*"]) == ["orders"]


# -- REST client bounds (real sockets, no Connect) ----------------------------------------------
def test_basic_auth_header_and_url_in_str():
    client = mm2.ConnectClient("http://h:1/", "user", "pw")
    assert client.headers["Authorization"] == "Basic dXNlcjpwdw=="
    assert str(client) == "Kafka Connect at http://h:1"


def test_refused_connection_fails_at_once_naming_the_url():
    t0 = time.monotonic()
    with pytest.raises(KafkaOpsError) as err:
        mm2.ConnectClient("http://127.0.0.1:1", request_timeout=30, deadline=Deadline(30)).server_info()
    assert time.monotonic() - t0 < 5
    assert err.value.msg.startswith("Kafka Connect at http://127.0.0.1:1: GET / failed:")
    assert "refused" in err.value.msg.lower()


def test_silent_server_fails_within_the_deadline():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the TCP connection, never answers
    port = listener.getsockname()[1]
    try:
        t0 = time.monotonic()
        with pytest.raises(KafkaOpsError) as err:
            mm2.ConnectClient("http://127.0.0.1:%d" % port, request_timeout=30, deadline=Deadline(1.5)).server_info()
        assert time.monotonic() - t0 < 4
        assert "no answer within" in err.value.msg and str(port) in err.value.msg
    finally:
        listener.close()


def test_expired_deadline_makes_no_request():
    with pytest.raises(KafkaOpsError, match="the module timeout ran out"):
        mm2.ConnectClient("http://127.0.0.1:1", deadline=Deadline(0)).server_info()


def test_exclude_patterns_extend_the_default_exclusions():
    o = opts()
    src = mm2.build_connector_configs(o, SOURCE, TARGET, ["a"], ["b.*"], read_pem=pem, exclude=["b-old.*"])["kafkaops-mm2-source"]
    rule = ",".join(admin.INTERNAL_TOPIC_PATTERNS)
    assert src["topics.exclude"] == rule + ",b-old.*"
    # without exclude patterns the connector still leaves out what the collection calls internal
    assert configs()["kafkaops-mm2-source"]["topics.exclude"] == rule
    assert mm2.select_topics(["b1", "b-old1", "b.internal"], [], ["b.*"], ["b-old.*"]) == ["b1"]
    with pytest.raises(KafkaOpsError, match="exclude"):
        mm2.topic_selection({"topics": ["a"], "exclude": ["x{1,2}"]})
    with pytest.raises(KafkaOpsError, match="exclude"):
        mm2.topic_selection({"topics": ["a"], "exclude_patterns": ["x{1,2}"]})


def test_exactly_once_rejection_falls_back_only_in_auto_mode():
    worker = {"p-source": {"exactly.once.support": ["This worker does not have exactly-once source support enabled."]},
              "p-checkpoint": {}}
    errors, fallback = mm2.exactly_once_outcome(worker, "p-source", "auto")
    assert errors == {} and fallback == "This worker does not have exactly-once source support enabled."
    errors, fallback = mm2.exactly_once_outcome(worker, "p-source", "required")
    assert fallback is None and list(errors) == ["p-source"]
    assert "exactly.once.source.support=enabled" in errors["p-source"]["exactly.once.support"][-1]
    # Other errors are never hidden by the fallback.
    both = {"p-source": dict(worker["p-source"], topics=["bad"])}
    errors, fallback = mm2.exactly_once_outcome(both, "p-source", "auto")
    assert errors == {"p-source": {"topics": ["bad"]}} and fallback
