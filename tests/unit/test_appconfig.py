"""kafka_client_config: the in-place editors of plugins/module_utils/appconfig.py and the module, without Kafka."""

import json
import os
import stat
import subprocess

import pytest
import yaml

from ansible_collections.kafkaops.migration.plugins.module_utils import appconfig
from ansible_collections.kafkaops.migration.plugins.module_utils.appconfig import (
    client_settings,
    env_quote,
    mask,
    parse_path,
    plan,
)
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import KafkaOpsError
from ansible_collections.kafkaops.migration.plugins.modules import kafka_client_config
from tests.utils.modules import FailJson, run_module

SECRET = 'pa"ss\\w$rd`%x'   # quotes, backslash, $, backquote and % in one password
PLAINTEXT = dict(bootstrap_servers=["new-1:9092", "new-2:9092"])
PLAIN = dict(bootstrap_servers=["new-1:9093"], security_protocol="SASL_SSL", sasl_mechanism="PLAIN",
             sasl_username="billing", sasl_password=SECRET, ssl_ca_location="/etc/kafka/ca.pem")
SCRAM = dict(bootstrap_servers=["new-1:9093", "new-2:9093"], security_protocol="SASL_PLAINTEXT",
             sasl_mechanism="SCRAM-SHA-512", sasl_username="app", sasl_password=SECRET)


def run(text, fmt, dialect, cluster, **kw):
    return plan(text, fmt, dialect, cluster, **kw)


def assert_no_secret(result, secret=SECRET):
    shown = ("before", "after", "diff_before", "diff_after", "bootstrap_before", "bootstrap_after", "warnings")
    blob = json.dumps({k: result[k] for k in shown})
    for part in (secret, json.dumps(secret)[1:-1], "pa\"ss", "w$rd"):
        assert part not in blob
    assert "********" in blob


def untouched(old, new, managed_prefixes):
    """The lines of ``old`` that hold no managed key, all present in ``new`` in order, byte for byte."""
    keep = [line for line in old.splitlines(True) if not line.lstrip().startswith(managed_prefixes)]
    it = iter(new.splitlines(True))
    for line in keep:
        for candidate in it:
            if candidate == line:
                break
        else:
            raise AssertionError("line lost or changed: %r" % line)


# -- cluster dict -> client keys ------------------------------------------------------------------
def test_librdkafka_keys():
    conf, dropped, warnings = client_settings(dict(PLAIN, ssl_check_hostname=False, ssl_key_password="k",
                                                   ssl_certificate_location="/c.pem", ssl_key_location="/k.pem"),
                                              "librdkafka")
    assert conf == {
        "bootstrap.servers": "new-1:9093", "security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
        "sasl.username": "billing", "sasl.password": SECRET, "ssl.ca.location": "/etc/kafka/ca.pem",
        "ssl.certificate.location": "/c.pem", "ssl.key.location": "/k.pem", "ssl.key.password": "k",
        "ssl.endpoint.identification.algorithm": "none"}
    assert dropped == [] and warnings == []


def test_java_plain_and_scram_jaas():
    conf = client_settings(PLAIN, "java")[0]
    assert conf["sasl.jaas.config"] == ('org.apache.kafka.common.security.plain.PlainLoginModule required '
                                        'username="billing" password="pa\\"ss\\\\w$rd`%x";')
    assert conf["ssl.truststore.type"] == "PEM" and conf["ssl.truststore.location"] == "/etc/kafka/ca.pem"
    assert "sasl.username" not in conf and "sasl.password" not in conf
    conf = client_settings(SCRAM, "java")[0]
    assert conf["sasl.jaas.config"].startswith("org.apache.kafka.common.security.scram.ScramLoginModule required "
                                               'username="app" password="')
    assert "ssl.truststore.type" not in conf  # no TLS


def test_java_truststore_keystore_and_hostname():
    conf = client_settings(dict(bootstrap_servers=["b:9094"], security_protocol="SSL", ssl_check_hostname=False,
                                ssl_key_password="kp"), "java",
                           truststore=dict(location="/t.jks", password="tp", type=None),
                           keystore=dict(location="/k.p12", password="kp2", type="PKCS12", key_password=None))[0]
    assert conf == {"bootstrap.servers": "b:9094", "security.protocol": "SSL", "ssl.truststore.type": "JKS",
                    "ssl.truststore.location": "/t.jks", "ssl.truststore.password": "tp",
                    "ssl.keystore.type": "PKCS12", "ssl.keystore.location": "/k.p12",
                    "ssl.keystore.password": "kp2", "ssl.key.password": "kp",
                    "ssl.endpoint.identification.algorithm": ""}


@pytest.mark.parametrize("cluster, dialect, kw, message", [
    (dict(bootstrap_servers=["b:1"], security_protocol="SSL", ssl_certificate_location="/c", ssl_key_location="/k"),
     "java", {}, "keystore"),
    (dict(bootstrap_servers=["b:1"], security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_password="x"),
     "java", {}, "sasl_username"),
    (dict(bootstrap_servers=["b:1"], security_protocol="SASL_PLAINTEXT"), "librdkafka", {}, "sasl_mechanism"),
    (dict(bootstrap_servers=["nohost"]), "java", {}, "host:port"),
    (dict(bootstrap_servers=["b:1"], security_protocol="SSL", ssl_ca_location="/ca"), "java",
     dict(truststore=dict(location="/t")), "not both"),
    (dict(bootstrap_servers=["b:1"]), "librdkafka", dict(keystore=dict(location="/k")), "dialect java"),
    (dict(bootstrap_servers=["b:1"]), "go", {}, "dialect"),
])
def test_bad_cluster_input_fails(cluster, dialect, kw, message):
    with pytest.raises(KafkaOpsError, match=message):
        client_settings(cluster, dialect, **kw)


def test_settings_are_written_and_null_removes():
    conf, dropped = client_settings(PLAINTEXT, "librdkafka", settings={"client.rack": "a", "linger.ms": None})[:2]
    assert conf["client.rack"] == "a" and dropped == ["linger.ms"]


def test_mask():
    jaas = 'x.PlainLoginModule required username="u" password="p\\"w;x";'
    assert mask("sasl.jaas.config", jaas) == 'x.PlainLoginModule required username="u" password="********";'
    for key in ("sasl.password", "ssl.key.password", "ssl.truststore.password", "ssl.keystore.password",
                "my.client.secret", "db.Password"):
        assert mask(key, "v") == "********"
    assert mask("bootstrap.servers", "b:1") == "b:1"


def test_parse_path():
    assert parse_path("spring.kafka.properties[sasl.jaas.config]") == ["spring", "kafka", "properties",
                                                                       "sasl.jaas.config"]
    assert parse_path("a[b.c].d") == ["a", "b.c", "d"]


# -- properties -----------------------------------------------------------------------------------
PROPS = (
    "# Billing service\n"
    "! legacy comment\n"
    "\n"
    "app.name = billing\n"
    "bootstrap.servers = old-1:9092,\\\n"
    "    old-2:9092\n"
    "security.protocol: SASL_SSL\n"
    "sasl.mechanism=PLAIN\n"
    "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"old\" "
    "password=\"oldpw\";\n"
    "path\\:with\\=escapes = kept\n"
    "group.id billing   \n"
    "weird\\\n"
    "  continued=yes\n"
)


def test_properties_java_scram_edit_in_place():
    r = run(PROPS, "properties", "java", SCRAM)
    new = r["text"]
    assert r["changed"]
    assert r["updated"] == ["bootstrap.servers", "security.protocol", "sasl.mechanism", "sasl.jaas.config"]
    assert r["added"] == [] and r["removed"] == []
    lines = new.splitlines(True)
    assert lines[:4] == PROPS.splitlines(True)[:4]
    assert "bootstrap.servers = new-1:9093,new-2:9093\n" in lines  # the separator style is kept
    assert "security.protocol: SASL_PLAINTEXT\n" in lines
    assert new.endswith("group.id billing   \nweird\\\n  continued=yes\n")
    assert "path\\:with\\=escapes = kept\n" in lines
    assert r["bootstrap_before"] == "old-1:9092,old-2:9092"
    assert r["bootstrap_after"] == "new-1:9093,new-2:9093"
    assert r["before"]["sasl.jaas.config"].endswith('username="old" password="********";')
    assert_no_secret(r)
    assert "oldpw" not in json.dumps(r["before"]) + r["diff_before"]
    # the value reads back through a Java-properties parser
    ed = appconfig.PropertiesEditor(new, {"j": ["sasl.jaas.config"], "e": ["path:with=escapes"]})
    assert ed.values("j") == [client_settings(SCRAM, "java")[0]["sasl.jaas.config"]]
    assert ed.values("e") == ["kept"]
    assert not run(new, "properties", "java", SCRAM)["changed"]


def test_properties_sasl_to_plaintext_removes_sasl_keys():
    r = run(PROPS, "properties", "java", PLAINTEXT)
    assert r["removed"] == ["sasl.mechanism", "sasl.jaas.config"]
    assert r["updated"] == ["bootstrap.servers", "security.protocol"]
    assert "sasl." not in r["text"]
    untouched(PROPS, r["text"], ("bootstrap", "old-2", "security", "sasl"))
    kept = run(PROPS, "properties", "java", PLAINTEXT, remove_unused=False)
    assert kept["removed"] == [] and "sasl.mechanism=PLAIN\n" in kept["text"]


def test_properties_librdkafka_adds_after_last_managed_key_and_keeps_no_trailing_newline():
    text = "# x\nbootstrap.servers=old:9092\nclient.id=billing"
    r = run(text, "properties", "librdkafka", dict(PLAIN, ssl_check_hostname=False), settings={"client.rack": "r1"})
    assert r["text"] == ("# x\nbootstrap.servers=new-1:9093\nsecurity.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n"
                         "sasl.username=billing\nsasl.password=pa\"ss\\\\w$rd`%x\nssl.ca.location=/etc/kafka/ca.pem\n"
                         "ssl.endpoint.identification.algorithm=none\nclient.rack=r1\nclient.id=billing")
    assert r["secret"]
    assert_no_secret(r)
    assert not run(r["text"], "properties", "librdkafka", dict(PLAIN, ssl_check_hostname=False),
                   settings={"client.rack": "r1"})["changed"]


def test_properties_values_escaped():
    r = run("bootstrap.servers=a:1\n", "properties", "java", PLAINTEXT, settings={"x.leading": " sp", "x.uni": "é"})
    assert "x.leading=\\ sp\n" in r["text"] and "x.uni=\\u00e9\n" in r["text"]
    assert not run(r["text"], "properties", "java", PLAINTEXT, settings={"x.leading": " sp", "x.uni": "é"})["changed"]


def test_properties_crlf_kept():
    text = "a=1\r\nbootstrap.servers=old:1\r\n"
    r = run(text, "properties", "librdkafka", PLAINTEXT)
    assert r["text"] == "a=1\r\nbootstrap.servers=new-1:9092,new-2:9092\r\nsecurity.protocol=PLAINTEXT\r\n"


def test_properties_alias_edited_where_it_is():
    r = run("metadata.broker.list=old:1\nsasl.mechanisms=PLAIN\n", "properties", "librdkafka", PLAINTEXT)
    assert r["text"] == "metadata.broker.list=new-1:9092,new-2:9092\nsecurity.protocol=PLAINTEXT\n"
    assert r["removed"] == ["sasl.mechanism"]


def test_prefix_for_properties():
    text = "spring.kafka.bootstrap-servers=old:1\nspring.kafka.properties.security.protocol=SSL\n"
    r = run(text, "properties", "java", PLAINTEXT, prefix="spring.kafka.properties.",
            keys={"bootstrap.servers": "spring.kafka.bootstrap-servers"})
    assert r["text"] == ("spring.kafka.bootstrap-servers=new-1:9092,new-2:9092\n"
                         "spring.kafka.properties.security.protocol=PLAINTEXT\n")


# -- require ------------------------------------------------------------------------------------------
def test_required_key_missing_fails_and_new_file_skips_require():
    with pytest.raises(KafkaOpsError, match="the keys to change are not there: bootstrap.servers"):
        run("app.name=x\n", "properties", "java", PLAINTEXT)
    with pytest.raises(KafkaOpsError, match="KAFKA_SECURITY_PROTOCOL"):
        run("KAFKA_BOOTSTRAP_SERVERS=a:1\n", "env", "java", PLAINTEXT,
            require=["bootstrap.servers", "security.protocol"])
    assert run("", "properties", "java", PLAINTEXT, new_file=True)["text"] == (
        "bootstrap.servers=new-1:9092,new-2:9092\nsecurity.protocol=PLAINTEXT\n")
    assert run("app.name=x\n", "properties", "java", PLAINTEXT, require=[])["added"] == ["bootstrap.servers",
                                                                                         "security.protocol"]


# -- env ----------------------------------------------------------------------------------------------
ENV = (
    "# billing environment\n"
    "export KAFKA_BOOTSTRAP_SERVERS='old-1:9092'   # the brokers\n"
    "KAFKA_SECURITY_PROTOCOL=\"SASL_SSL\"\n"
    "KAFKA_SASL_MECHANISM=PLAIN\n"
    "KAFKA_SASL_JAAS_CONFIG=\"org.apache.kafka.common.security.plain.PlainLoginModule required username=\\\"o\\\" "
    "password=\\\"oldpw\\\";\"\n"
    "JAVA_OPTS='-Xmx1g -Dx=\"y\"'\n"
    "\n"
    "OTHER=plain\n"
)


def source(path, var):
    out = subprocess.run(["sh", "-c", 'set -a; . ./%s; printf %%s "$%s"' % (os.path.basename(path), var)],
                         cwd=os.path.dirname(path), capture_output=True, check=True)
    return out.stdout.decode()


def test_env_java_scram_round_trips_through_sh(tmp_path):
    r = run(ENV, "env", "java", SCRAM)
    f = tmp_path / "f"
    f.write_text(r["text"])
    jaas = client_settings(SCRAM, "java")[0]["sasl.jaas.config"]
    assert source(str(f), "KAFKA_SASL_JAAS_CONFIG") == jaas
    assert source(str(f), "KAFKA_BOOTSTRAP_SERVERS") == "new-1:9093,new-2:9093"
    assert source(str(f), "JAVA_OPTS") == '-Xmx1g -Dx="y"'
    lines = r["text"].splitlines(True)
    assert lines[1] == "export KAFKA_BOOTSTRAP_SERVERS=new-1:9093,new-2:9093   # the brokers\n"
    assert lines[0] == "# billing environment\n" and lines[-3:] == ENV.splitlines(True)[-3:]
    assert_no_secret(r)
    assert "oldpw" not in json.dumps(r["before"]) + r["diff_before"]
    assert not run(r["text"], "env", "java", SCRAM)["changed"]


def test_env_librdkafka_password_round_trip_and_removal(tmp_path):
    r = run("KAFKA_BOOTSTRAP_SERVERS=old:1\n", "env", "librdkafka", PLAIN)
    f = tmp_path / "app.env"
    f.write_text(r["text"])
    assert source(str(f), "KAFKA_SASL_PASSWORD") == SECRET
    assert_no_secret(r)
    back = run(r["text"], "env", "librdkafka", PLAINTEXT)
    assert back["text"] == "KAFKA_BOOTSTRAP_SERVERS=new-1:9092,new-2:9092\nKAFKA_SECURITY_PROTOCOL=PLAINTEXT\n"
    assert back["removed"] == ["sasl.mechanism", "sasl.username", "sasl.password", "ssl.ca.location"]


def test_env_custom_names_and_prefix():
    r = run("BROKERS=old:1\n", "env", "librdkafka", PLAINTEXT, keys={"bootstrap.servers": "BROKERS"}, prefix="APP_")
    assert r["text"] == "BROKERS=new-1:9092,new-2:9092\nAPP_SECURITY_PROTOCOL=PLAINTEXT\n"


@pytest.mark.parametrize("value", ["", "plain", "a b", "it's", 'q"q', "back\\slash", "$HOME", "`id`", "%s;|&"])
def test_env_quote_round_trip(tmp_path, value):
    f = tmp_path / "e"
    f.write_text("V=%s\n" % env_quote(value))
    assert source(str(f), "V") == value
    assert appconfig.EnvEditor(f.read_text(), {"v": ["V"]}).values("v") == [value]


# -- systemd ------------------------------------------------------------------------------------------
def test_systemd_drop_in_edit_and_create():
    text = ("# managed by hand\n[Unit]\nAfter=network.target\n\n[Service]\n"
            "Environment=\"JAVA_OPTS=-Xmx1g\"\nEnvironment=KAFKA_BOOTSTRAP_SERVERS=old:1\n"
            "Environment=\"OTHER=1\" \"KAFKA_SASL_MECHANISM=SCRAM-SHA-256\"\nExecStart=\n\n[Install]\nWantedBy=x\n")
    r = run(text, "systemd", "librdkafka", PLAIN)
    lines = r["text"].splitlines(True)
    assert lines[:6] == text.splitlines(True)[:6]
    assert 'Environment="KAFKA_BOOTSTRAP_SERVERS=new-1:9093"\n' in lines
    assert 'Environment="KAFKA_SASL_PASSWORD=pa\\"ss\\\\w$rd`%%x"\n' in lines
    assert r["text"].endswith("ExecStart=\n\n[Install]\nWantedBy=x\n")
    assert r["updated"] == ["bootstrap.servers", "sasl.mechanism"]
    ed = appconfig.SystemdEditor(r["text"], {"p": ["KAFKA_SASL_PASSWORD"], "o": ["OTHER"]})
    assert ed.values("p") == [SECRET] and ed.values("o") == ["1"]
    assert_no_secret(r)
    assert not run(r["text"], "systemd", "librdkafka", PLAIN)["changed"]
    new = run("", "systemd", "java", PLAINTEXT, new_file=True)
    assert new["text"] == ("[Service]\nEnvironment=\"KAFKA_BOOTSTRAP_SERVERS=new-1:9092,new-2:9092\"\n"
                           "Environment=\"KAFKA_SECURITY_PROTOCOL=PLAINTEXT\"\n")
    back = run(r["text"], "systemd", "librdkafka", PLAINTEXT)
    assert "SASL" not in back["text"] and 'Environment="OTHER=1"\n' in back["text"]


def test_systemd_adds_service_section():
    r = run("[Unit]\nDescription=x\n", "systemd", "java", PLAINTEXT, require=[])
    assert r["text"] == ("[Unit]\nDescription=x\n\n[Service]\nEnvironment=\"KAFKA_BOOTSTRAP_SERVERS=new-1:9092,"
                         "new-2:9092\"\nEnvironment=\"KAFKA_SECURITY_PROTOCOL=PLAINTEXT\"\n")


# -- yaml ---------------------------------------------------------------------------------------------
SPRING_NESTED = """\
# Billing service
spring:
  application:
    name: billing   # the name
  kafka:
    bootstrap-servers: old-1:9092  # old brokers
    consumer:
      group-id: billing
    properties:
      security:
        protocol: SASL_SSL
      sasl:
        mechanism: PLAIN
        jaas:
          config: org.apache.kafka.common.security.plain.PlainLoginModule required username="o" password="oldpw";
      linger.ms: 5
server:
  port: 8080
"""

SPRING_LITERAL = """\
spring:
  kafka:
    bootstrap-servers:
      - old-1:9092
      - old-2:9092
    properties:
      "[security.protocol]": SASL_SSL   # keep me
      "[sasl.mechanism]": PLAIN
      '[sasl.jaas.config]': 'x required username="o" password="oldpw";'
management: {port: 9000}
"""


def test_yaml_spring_nested_form_edited_where_it_is():
    r = run(SPRING_NESTED, "yaml", "java", SCRAM)
    new = r["text"]
    doc = yaml.safe_load(new)
    props = doc["spring"]["kafka"]["properties"]
    assert doc["spring"]["kafka"]["bootstrap-servers"] == "new-1:9093,new-2:9093"
    assert props["security"]["protocol"] == "SASL_PLAINTEXT"
    assert props["sasl"]["mechanism"] == "SCRAM-SHA-512"
    assert props["sasl"]["jaas"]["config"] == client_settings(SCRAM, "java")[0]["sasl.jaas.config"]
    assert props["linger.ms"] == 5 and doc["server"] == {"port": 8080}
    assert "    bootstrap-servers: new-1:9093,new-2:9093  # old brokers\n" in new
    assert "    name: billing   # the name\n" in new
    untouched(SPRING_NESTED, new, ("bootstrap-servers", "protocol", "mechanism", "config:"))
    assert_no_secret(r)
    assert "oldpw" not in json.dumps(r["before"]) + r["diff_before"]
    assert not run(new, "yaml", "java", SCRAM)["changed"]
    # to PLAINTEXT: the nested sasl mapping goes away with its keys
    back = run(new, "yaml", "java", PLAINTEXT)
    doc = yaml.safe_load(back["text"])
    assert doc["spring"]["kafka"]["properties"] == {"security": {"protocol": "PLAINTEXT"}, "linger.ms": 5}
    assert back["removed"] == ["sasl.mechanism", "sasl.jaas.config"]


def test_yaml_spring_literal_form_and_lists():
    r = run(SPRING_LITERAL, "yaml", "java", PLAIN)
    new = r["text"]
    doc = yaml.safe_load(new)
    assert doc["spring"]["kafka"]["bootstrap-servers"] == ["new-1:9093"]  # a list stays a list
    props = doc["spring"]["kafka"]["properties"]
    assert props["[security.protocol]"] == "SASL_SSL"
    assert props["[sasl.jaas.config]"] == client_settings(PLAIN, "java")[0]["sasl.jaas.config"]
    assert props["ssl.truststore.type"] == "PEM" and props["ssl.truststore.location"] == "/etc/kafka/ca.pem"
    assert '      "[security.protocol]": SASL_SSL   # keep me\n' in new
    assert new.endswith("management: {port: 9000}\n")
    assert r["added"] == ["ssl.truststore.type", "ssl.truststore.location"]
    assert_no_secret(r)
    assert not run(new, "yaml", "java", PLAIN)["changed"]


def test_yaml_librdkafka_default_prefix_and_new_file():
    r = run("", "yaml", "librdkafka", SCRAM, new_file=True)
    assert yaml.safe_load(r["text"]) == {"kafka": {
        "bootstrap.servers": "new-1:9093,new-2:9093", "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "app", "sasl.password": SECRET}}
    r = run("---\n# cfg\nlog: info\nkafka:\n  bootstrap.servers: old:1\n", "yaml", "librdkafka", PLAINTEXT)
    assert r["text"] == ("---\n# cfg\nlog: info\nkafka:\n  bootstrap.servers: new-1:9092,new-2:9092\n"
                         "  security.protocol: PLAINTEXT\n")


def test_yaml_creates_missing_mappings():
    r = run("spring:\n  application:\n    name: x\n", "yaml", "java", PLAINTEXT, require=[])
    doc = yaml.safe_load(r["text"])
    assert doc["spring"]["kafka"] == {"bootstrap-servers": "new-1:9092,new-2:9092",
                                      "properties": {"security.protocol": "PLAINTEXT"}}
    assert r["text"].startswith("spring:\n  application:\n    name: x\n")


@pytest.mark.parametrize("text, message", [
    ("kafka: {bootstrap.servers: old:1}\n", "not a block mapping|flow"),
    ("base: &b\n  bootstrap.servers: old:1\nkafka: *b\n", "anchor|alias|block mapping|could not|not there"),
    ("kafka:\n  bootstrap.servers: [old\n", "not parsable"),
    ("a: 1\n---\nb: 2\n", "one YAML document|not parsable"),
    ("- a\n- b\n", "not a mapping"),
])
def test_yaml_what_the_editor_cannot_handle_fails(text, message):
    with pytest.raises(KafkaOpsError, match=message):
        run(text, "yaml", "librdkafka", PLAINTEXT, require=[])


def test_yaml_quotes_values_safely():
    r = run("kafka:\n  bootstrap.servers: old:1\n", "yaml", "librdkafka", PLAINTEXT,
            settings={"x.bool": "true", "x.quote": "it's: #1", "x.empty": "", "x.int": 5})
    doc = yaml.safe_load(r["text"])["kafka"]
    assert doc["x.bool"] == "true" and doc["x.quote"] == "it's: #1" and doc["x.empty"] == "" and doc["x.int"] == 5


# -- json ---------------------------------------------------------------------------------------------
def test_json_edit_keeps_indent_order_and_shape():
    text = '{\n    "name": "billing",\n    "kafka": {\n        "bootstrap.servers": ["old:1"],\n' \
           '        "sasl": {"mechanism": "PLAIN"},\n        "client.id": "b"\n    },\n    "z": 1\n}'
    r = run(text, "json", "librdkafka", PLAIN)
    doc = json.loads(r["text"])
    assert list(doc) == ["name", "kafka", "z"]
    assert doc["kafka"]["bootstrap.servers"] == ["new-1:9093"]
    assert doc["kafka"]["sasl"] == {"mechanism": "PLAIN"}  # nested form edited where it is
    assert doc["kafka"]["sasl.password"] == SECRET
    assert r["text"].startswith('{\n    "name": "billing",\n    "kafka": {\n') and not r["text"].endswith("\n")
    assert_no_secret(r)
    assert not run(r["text"], "json", "librdkafka", PLAIN)["changed"]
    back = run(r["text"], "json", "librdkafka", PLAINTEXT)
    assert "sasl" not in back["text"] and json.loads(back["text"])["kafka"]["client.id"] == "b"


def test_json_java_default_paths():
    r = run("", "json", "java", PLAIN, new_file=True)
    doc = json.loads(r["text"])
    assert doc["spring"]["kafka"]["bootstrap-servers"] == "new-1:9093"
    assert doc["spring"]["kafka"]["properties"]["sasl.jaas.config"].startswith("org.apache")
    assert r["text"].startswith('{\n  "spring"') and r["text"].endswith("}\n")


def test_unparsable_files_fail():
    with pytest.raises(KafkaOpsError, match="not parsable"):
        run("{oops", "json", "java", PLAINTEXT)
    with pytest.raises(KafkaOpsError, match="unclosed quote"):
        run("KAFKA_BOOTSTRAP_SERVERS='a:1\n", "env", "java", PLAINTEXT)
    with pytest.raises(KafkaOpsError, match="format"):
        run("", "toml", "java", PLAINTEXT)


# -- the module ---------------------------------------------------------------------------------------
def module_args(path, **kw):
    args = dict(path=str(path), dialect="java", cluster=dict(SCRAM))
    args.update(kw)
    return args


def test_module_writes_backup_and_is_idempotent(tmp_path):
    f = tmp_path / "app.properties"
    f.write_text(PROPS)
    os.chmod(str(f), 0o600)
    res = run_module(kafka_client_config, module_args(f), diff=True)
    assert res["changed"] and res["backup_file"] and os.path.exists(res["backup_file"])
    with open(res["backup_file"]) as b:
        assert b.read() == PROPS
    assert f.read_text() == run(PROPS, "properties", "java", SCRAM)["text"]
    assert res["bootstrap_after"] == "new-1:9093,new-2:9093" and res["mode_tightened"] is False
    assert set(res["diff"]) == {"before", "after", "before_header", "after_header"}
    blob = json.dumps(res)
    assert SECRET not in blob and "oldpw" not in blob and json.dumps(SECRET)[1:-1] not in blob
    again = run_module(kafka_client_config, module_args(f))
    assert again["changed"] is False and again["backup_file"] is None
    assert len(os.listdir(str(tmp_path))) == 2  # the file and one backup, no temporary left


def test_module_check_mode_writes_nothing(tmp_path):
    f = tmp_path / "app.env"
    f.write_text(ENV)
    os.chmod(str(f), 0o644)
    res = run_module(kafka_client_config, module_args(f, format="env"), check_mode=True, diff=True)
    assert res["changed"] and res["backup_file"] is None and res["mode_tightened"]
    assert "KAFKA_SASL_MECHANISM=SCRAM-SHA-512" in res["diff"]["after"]
    assert f.read_text() == ENV and os.listdir(str(tmp_path)) == ["app.env"]
    assert stat.S_IMODE(os.stat(str(f)).st_mode) == 0o644


def test_module_tightens_mode_with_secrets(tmp_path):
    f = tmp_path / "app.env"
    f.write_text(ENV)
    os.chmod(str(f), 0o644)
    res = run_module(kafka_client_config, module_args(f, format="env", backup=False))
    assert res["changed"] and res["mode_tightened"] and res["backup_file"] is None
    assert stat.S_IMODE(os.stat(str(f)).st_mode) == 0o600
    assert not run_module(kafka_client_config, module_args(f, format="env"))["changed"]
    # an explicit mode wins
    res = run_module(kafka_client_config, module_args(f, format="env", mode="0640"))
    assert res["changed"] and not res["mode_tightened"]
    assert stat.S_IMODE(os.stat(str(f)).st_mode) == 0o640


def test_module_create(tmp_path):
    f = tmp_path / "kafka.conf"
    with pytest.raises(FailJson, match="does not exist"):
        run_module(kafka_client_config, module_args(f, format="systemd"))
    res = run_module(kafka_client_config, module_args(f, format="systemd", create=True))
    assert res["changed"] and res["backup_file"] is None and res["added"][0] == "bootstrap.servers"
    assert f.read_text().startswith("[Service]\n")
    assert stat.S_IMODE(os.stat(str(f)).st_mode) == 0o600  # it holds the JAAS password
    assert not run_module(kafka_client_config, module_args(f, format="systemd", create=True))["changed"]
    plain = tmp_path / "plain.yml"
    res = run_module(kafka_client_config, dict(path=str(plain), dialect="librdkafka", format="yaml", create=True,
                                               cluster=PLAINTEXT), check_mode=True)
    assert res["changed"] and not plain.exists()


@pytest.mark.parametrize("args, message", [
    (dict(cluster=dict(bootstrap_servers=["b:1"], security_protocol="SSL", ssl_certificate_location="/c.pem",
                       ssl_key_location="/k.pem")), "keystore"),
    (dict(cluster=dict(bootstrap_servers=["b:1"], security_protocol="SASL_SSL", sasl_mechanism="PLAIN",
                       sasl_password="x")), "sasl_username"),
    (dict(require=["bootstrap.servers", "client.rack"]), "the keys to change are not there"),
    (dict(format="json"), "not parsable"),
    (dict(format="ini"), "format"),
])
def test_module_bad_input_fails_and_writes_nothing(tmp_path, args, message):
    f = tmp_path / "app.properties"
    f.write_text(PROPS)
    with pytest.raises(FailJson, match=message) as exc:
        run_module(kafka_client_config, module_args(f, **args))
    assert SECRET not in json.dumps(exc.value.result)
    assert f.read_text() == PROPS and os.listdir(str(tmp_path)) == ["app.properties"]


def test_parse_errors_do_not_quote_the_file():
    with pytest.raises(KafkaOpsError) as exc:
        run("kafka:\n  sasl.password: [topsecret\n", "yaml", "librdkafka", PLAINTEXT)
    assert "topsecret" not in exc.value.msg and "line" in exc.value.msg


# -- topics the application names (topic_keys): the one naming rule of every step -------------------
ALIBABA = dict(PLAINTEXT, api="alibaba", alibaba=dict(region_id="cn-hangzhou", instance_id="alikafka-1"))


def test_topic_keys_follow_the_alibaba_name_rule_and_the_rename_map():
    text = "# billing\nbootstrap.servers=old:9092\napp.topic=demo.orders,legacy.audit , plain-topic\nacks=all\n"
    result = run(text, "properties", "librdkafka", ALIBABA, topic_keys=["app.topic"], rename={"legacy.audit": "audit-v2"})
    assert result["topic_names"] == {"demo.orders": "demo_orders", "legacy.audit": "audit-v2", "plain-topic": "plain-topic"}
    assert "app.topic=demo_orders,audit-v2,plain-topic\n" in result["text"]
    assert set(result["updated"]) == {"app.topic", "bootstrap.servers"}
    assert result["text"].startswith("# billing\n") and result["text"].endswith("acks=all\n")
    assert "app.topic=demo.orders" in result["diff_before"] and "app.topic=demo_orders" in result["diff_after"]
    # the switched file switched again: nothing changes (already target names)
    again = run(result["text"], "properties", "librdkafka", ALIBABA, topic_keys=["app.topic"], rename={"legacy.audit": "audit-v2"})
    assert again["changed"] is False and again["topic_names"]["audit-v2"] == "audit-v2"
    # dotted name rule: '.' is accepted, only the map renames
    dotted = dict(ALIBABA, alibaba=dict(ALIBABA["alibaba"], name_rule="dotted"))
    assert run(text, "properties", "librdkafka", dotted, topic_keys=["app.topic"])["topic_names"]["demo.orders"] == "demo.orders"
    # a Kafka target keeps every name but the map's
    kafka = run(text, "properties", "librdkafka", PLAINTEXT, topic_keys=["app.topic"], rename={"legacy.audit": "audit-v2"})
    assert kafka["topic_names"] == {"demo.orders": "demo.orders", "legacy.audit": "audit-v2", "plain-topic": "plain-topic"}


def test_topic_keys_in_an_env_file_and_bad_input():
    text = "KAFKA_BOOTSTRAP_SERVERS=old:9092\nKAFKA_APP_TOPIC=demo.orders\n"
    result = run(text, "env", "librdkafka", ALIBABA, topic_keys=["app.topic"])
    assert "KAFKA_APP_TOPIC=demo_orders\n" in result["text"]
    # empty items of a list are dropped, each name keeps its own target name
    gaps = run("bootstrap.servers=x:1\napp.topic=a.b,,c.d\n", "properties", "librdkafka", ALIBABA, topic_keys=["app.topic"])
    assert gaps["topic_names"] == {"a.b": "a_b", "c.d": "c_d"} and "app.topic=a_b,c_d\n" in gaps["text"]
    with pytest.raises(KafkaOpsError, match="topic_keys: app.topic not found in the file"):
        run("bootstrap.servers=old:9092\n", "properties", "librdkafka", ALIBABA, topic_keys=["app.topic"])
    with pytest.raises(KafkaOpsError, match="Kafka client keys"):
        run(text, "env", "librdkafka", ALIBABA, topic_keys=["bootstrap.servers"])
    with pytest.raises(KafkaOpsError, match="both a source and a target"):
        run("bootstrap.servers=x:1\napp.topic=b\n", "properties", "librdkafka", PLAINTEXT, topic_keys=["app.topic"],
            rename={"a": "b", "b": "c"})
