"""Connection helper: options -> librdkafka config, validation, secrets kept out of messages."""

import pytest

from ansible_collections.kafkaops.migration.plugins.module_utils import connection as c


def test_plaintext_config_joins_servers_and_names_the_client():
    conf = c.librdkafka_config({"bootstrap_servers": ["a:9092", "b:9093"]}, "source")
    assert conf["bootstrap.servers"] == "a:9092,b:9093"
    assert conf["security.protocol"] == "PLAINTEXT"
    assert conf["client.id"] == "kafkaops-migration-source"
    assert "sasl.mechanism" not in conf


def test_comma_string_is_split():
    assert c.validate_cluster_params({"bootstrap_servers": "a:1, b:2"}) == ["a:1", "b:2"]


def test_scram_over_tls_with_client_cert():
    conf = c.librdkafka_config({
        "bootstrap_servers": ["k:9094"], "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": "u", "sasl_password": "p", "ssl_ca_location": "/ca.pem",
        "ssl_certificate_location": "/c.pem", "ssl_key_location": "/k.pem", "ssl_key_password": "kp",
        "ssl_check_hostname": False, "config": {"client.rack": "z1", "socket.keepalive.enable": True},
    }, "target")
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512" and conf["sasl.password"] == "p"
    assert conf["ssl.ca.location"] == "/ca.pem" and conf["ssl.key.password"] == "kp"
    assert conf["ssl.endpoint.identification.algorithm"] == "none"
    assert conf["client.rack"] == "z1" and conf["socket.keepalive.enable"] is True


def test_tls_options_ignored_on_plaintext():
    conf = c.librdkafka_config({"bootstrap_servers": ["k:1"], "ssl_ca_location": "/ca.pem"})
    assert "ssl.ca.location" not in conf


@pytest.mark.parametrize("params,fragment", [
    ({}, "bootstrap_servers is required"),
    ({"bootstrap_servers": ["nohostport"]}, "is not host:port"),
    ({"bootstrap_servers": ["h:99999"]}, "is not host:port"),
    ({"bootstrap_servers": ["h:1"], "security_protocol": "TLS"}, "security_protocol must be one of"),
    ({"bootstrap_servers": ["h:1"], "security_protocol": "SASL_SSL"}, "needs sasl_mechanism"),
    ({"bootstrap_servers": ["h:1"], "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN"},
     "needs sasl_username and sasl_password"),
    ({"bootstrap_servers": ["h:1"], "request_timeout": 0}, "request_timeout must be positive"),
])
def test_bad_options_are_refused_with_the_cluster_named(params, fragment):
    with pytest.raises(c.KafkaOpsError) as err:
        c.validate_cluster_params(params, "target")
    assert fragment in err.value.msg
    assert err.value.msg.startswith("target:")


def test_redact_hides_every_secret_key():
    conf = c.librdkafka_config({"bootstrap_servers": ["h:1"], "security_protocol": "SASL_PLAINTEXT",
                                "sasl_mechanism": "PLAIN", "sasl_username": "u", "sasl_password": "hunter2"})
    red = c.redact(conf)
    assert "hunter2" not in repr(red) and red["sasl.username"] == "u"


def test_timeout_never_passes_the_deadline():
    from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline
    now = [100.0]
    cl = c.Cluster({"bootstrap_servers": ["h:1"], "request_timeout": 10}, "source",
                   deadline=Deadline(3, clock=lambda: now[0]))
    assert cl.timeout() == pytest.approx(3)
    now[0] = 102.5
    assert cl.timeout() == pytest.approx(0.5)
    now[0] = 104
    with pytest.raises(c.KafkaOpsError, match="module timeout ran out"):
        cl.timeout()


def test_user_config_tunes_clients_but_never_protected_settings():
    cl = c.Cluster({"bootstrap_servers": ["h:1"], "config": {
        "linger.ms": 50, "isolation.level": "read_uncommitted", "enable.auto.commit": True, "client.rack": "z1"}},
        "source")
    prod = cl._tunable({"linger.ms": 5, "acks": "all"})
    assert prod["linger.ms"] == 50 and prod["acks"] == "all" and prod["client.rack"] == "z1"
    cons = cl._tunable({"isolation.level": "read_committed", "enable.auto.commit": False})
    assert cons["isolation.level"] == "read_committed" and cons["enable.auto.commit"] is False


@pytest.mark.parametrize("params, text, expected", [
    ({}, "127.0.0.1:19591/bootstrap: Disconnected: connection closed by peer: receive 0 after POLLIN "
         "(after 0ms in state UP)", "expects SASL authentication, but security_protocol is PLAINTEXT"),
    ({"security_protocol": "SSL"}, "SSL handshake failed: Disconnected: SSL connection closed by peer: connecting to "
                                   "a PLAINTEXT broker listener?", "does not speak TLS, but security_protocol is SSL"),
    ({"security_protocol": "SASL_PLAINTEXT"}, "Broker: Request not valid in current SASL state",
     "does not take SASL, but security_protocol is SASL_PLAINTEXT"),
    ({"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN"},
     "Broker: Unsupported SASL mechanism: broker's supported mechanisms: SCRAM-SHA-512", "sasl_mechanism PLAIN"),
    ({"security_protocol": "SASL_SSL"}, "SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: "
                                        "broker certificate could not be verified", "not signed by a CA this client trusts"),
    ({"security_protocol": "SSL"}, "SSL handshake failed: ssl/tls alert handshake failure", "client certificate"),
])
def test_protocol_hint_names_the_mismatch(params, text, expected):
    assert expected in c.protocol_hint(params, [text])


def test_protocol_hint_only_for_the_protocol_it_fits():
    # "closed by peer in state UP" means a SASL listener only when the client did not use SASL
    text = "Disconnected: connection closed by peer: receive 0 after POLLIN (after 0ms in state UP)"
    assert c.protocol_hint({"security_protocol": "SASL_PLAINTEXT"}, [text]) is None
    assert c.protocol_hint({}, ["Connect to ipv4#127.0.0.1:1 failed: Connection refused"]) is None
