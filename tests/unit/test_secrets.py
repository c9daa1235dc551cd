"""Which free-form settings hold secrets (the values a module adds to Ansible's no_log_values)."""

from ansible_collections.kafkaops.migration.plugins.module_utils.secrets import is_secret_key, secret_values


def test_secret_keys():
    for key in ("sasl.password", "ssl.key.password", "ssl.truststore.password", "sasl.oauthbearer.client.secret",
                "sasl.jaas.config", "ssl.keystore.key", "ssl.key.pem", "basic.auth.user.info", "SASL.PASSWORD"):
        assert is_secret_key(key), key
    for key in ("linger.ms", "bootstrap.servers", "sasl.username", "ssl.ca.location", "ssl.keystore.location"):
        assert not is_secret_key(key), key


def test_values_under_secret_keys_of_free_form_dicts_only():
    params = {
        "source": {"sasl_password": "declared-no-log", "config": {"sasl.password": "p1", "linger.ms": 5}},
        "target": {"config": {"ssl.key.password": "p2", "nested": {"sasl.oauthbearer.client.secret": "p3"}}},
        "settings": {"ssl.truststore.password": "p4", "client.id": "app"},
        "mirrormaker2": {"connector_config": {"source": {"consumer.override.sasl.password": "p5"}},
                         "config": {"sasl.jaas.config": 'x.PlainLoginModule required username="u" password="p6";'}},
        "keys": {"sasl.password": "spring.kafka.properties.sasl.password"},   # names, not secrets
        "password": "declared-elsewhere",                                      # not inside a free-form dict
    }
    found = secret_values(params)
    assert {"p1", "p2", "p3", "p4", "p5", "p6"} <= found
    assert 'x.PlainLoginModule required username="u" password="p6";' in found
    assert not found & {"declared-no-log", "spring.kafka.properties.sasl.password", "declared-elsewhere", "5", "app"}


def test_empty_and_boolean_values_are_not_masked():
    assert secret_values({"config": {"sasl.password": "", "enable.ssl.certificate.verification.password": True}}) == set()
