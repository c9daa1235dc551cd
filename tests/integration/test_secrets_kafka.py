"""No secret anywhere: every module run through ansible-playbook at ``-vvv --diff``, with a recognisable
secret in every place one can be given, leaks none of them.

Places: a cluster's ``sasl_password`` and ``ssl_key_password`` options, its free-form ``config``
(``sasl.password``, ``ssl.key.password``), kafka_client_config's ``truststore``/``keystore`` passwords
and ``settings``, MirrorMaker 2's ``password``, ``config`` and ``connector_config`` (a JAAS line), and
the Alibaba Cloud ``access_key_secret`` / ``security_token``. The target is reached as a SCRAM user made
for this test whose password is one of those secrets, so the modules really authenticate with it.

Asserted: no secret in the playbook's output (task results, ``invocation.module_args``, diffs,
warnings, messages, on success and on failure, including a failure of argument validation), in
Ansible's log file (``ANSIBLE_LOG_PATH``), in the registered results, in the mirror's progress file or
the lag wait's history file; the application files that must hold the password do, with mode 0600.
"""

import json
import os
import re
import stat
import uuid

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    NewTopic,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from tests.utils.playbook import run_playbook
from tests.utils.wait import wait_committed, wait_topics_on_every_broker, wait_until

pytestmark = pytest.mark.kafka

MARK = "KOPSSECRET"


def _secret(place, tag):
    return "%s-%s-%s" % (MARK, place, tag)


@pytest.fixture
def probe_user(clusters):
    """A SCRAM-SHA-512 user on the target whose password is a recognisable secret; deleted at the end."""
    tag = uuid.uuid4().hex[:8]
    user, password = "kafkaops-probe-%s" % tag, _secret("config-sasl", tag)
    admin = AdminClient(clusters.librdkafka("target"))
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096)
    for fut in admin.alter_user_scram_credentials([UserScramCredentialUpsertion(user, info, password.encode())]).values():
        fut.result(30)
    conf = dict(clusters.librdkafka("target"), **{"sasl.username": user, "sasl.password": password})

    def authenticates():
        try:
            AdminClient(conf).list_topics(timeout=3)
            return True
        except Exception:  # noqa: BLE001 - not yet known to every broker
            return False

    wait_until("the probe user to authenticate on the target", authenticates, timeout=60)
    yield tag, user, password
    for fut in admin.alter_user_scram_credentials([UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512)]).values():
        try:
            fut.result(30)
        except Exception:  # noqa: BLE001
            pass


def test_no_secret_in_any_output_at_vvv_with_diff(clusters, probe_user, unique, tmp_path):
    tag, user, password = probe_user
    secrets = {
        "sasl_password": _secret("sasl-option", tag),   # overridden by config's sasl.password below
        "config sasl.password": password,
        "config ssl.key.password": _secret("config-keypass", tag),
        "source config sasl.password": _secret("source-config", tag),
        "ssl_key_password": _secret("keypass-option", tag),
        "truststore password": _secret("truststore", tag),
        "keystore password": _secret("keystore", tag),
        "keystore key_password": _secret("keystore-key", tag),
        "settings ssl.truststore.password": _secret("settings", tag),
        "mm2 password": _secret("mm2-option", tag),
        "mm2 config jaas": _secret("mm2-jaas", tag),
        "mm2 connector_config password": _secret("mm2-connector", tag),
        "alibaba access_key_secret": _secret("ak-secret", tag),
        "alibaba security_token": _secret("ak-token", tag),
    }
    topic, group = unique("sec-topic"), unique("sec-group")
    src_admin = AdminClient(clusters.librdkafka("source"))
    src_admin.create_topics([NewTopic(topic, 2, 2)])[topic].result(30)
    wait_topics_on_every_broker(clusters.librdkafka("source"), topic, 2)
    producer = Producer(clusters.librdkafka("source"))
    for i in range(10):
        producer.produce(topic, b"v%d" % i, b"k%d" % i, partition=i % 2)
    assert producer.flush(30) == 0
    committed = {(topic, p): 5 for p in range(2)}
    req = ConsumerGroupTopicPartitions(group, [TopicPartition(t, p, o) for (t, p), o in committed.items()])
    list(src_admin.alter_consumer_group_offsets([req]).values())[0].result(30)
    wait_committed(src_admin, group, committed)

    source = dict(clusters.source, config={"sasl.password": secrets["source config sasl.password"]})
    target = dict(clusters.target, sasl_username=user, sasl_password=secrets["sasl_password"],
                  ssl_key_password=secrets["ssl_key_password"],
                  config={"sasl.password": password, "ssl.key.password": secrets["config ssl.key.password"]})
    unreachable = dict(target, bootstrap_servers=["127.0.0.1:1"], request_timeout=2)
    progress, history = tmp_path / "mirror-progress.json", tmp_path / "lag-history.jsonl"
    app_conf, java_conf = tmp_path / "app-librdkafka.properties", tmp_path / "app-java.properties"
    pair = {"source": source, "target": target}
    include = [re.escape(topic)]
    mm2 = {"connect_url": "http://127.0.0.1:1", "username": "connect", "password": secrets["mm2 password"],
           "request_timeout": 2,
           "config": {"source.sasl.jaas.config": 'org.apache.kafka.common.security.plain.PlainLoginModule required '
                                                 'username="u" password="%s";' % secrets["mm2 config jaas"]},
           "connector_config": {"source": {"consumer.override.ssl.truststore.password": secrets["mm2 connector_config password"]}}}
    tasks = [
        ("Spec facts", "kafka_spec_facts", dict(pair, include=include, sample_window=0, measure_size=False), False),
        ("Topic sync", "kafka_topic_sync", dict(pair, include=include), False),
        ("Mirror", "kafka_mirror", dict(pair, name=unique("sec-mirror"), include=include, offset_map_topic=unique("sec-map"),
                                        progress_file=str(progress), timeout=120), False),
        ("Group sync", "kafka_group_sync", dict(pair, groups=[{"name": group}], policy="latest"), False),
        ("Lag wait", "kafka_lag_wait", {"cluster": target, "groups": [group], "topics": [topic], "interval": 0.5,
                                        "timeout": 60, "history_file": str(history)}, False),
        ("Client config librdkafka", "kafka_client_config",
         {"cluster": target, "path": str(app_conf), "create": True, "dialect": "librdkafka"}, False),
        ("Client config java", "kafka_client_config",
         {"cluster": target, "path": str(java_conf), "create": True, "dialect": "java",
          "truststore": {"location": "/nonexistent/truststore.jks", "password": secrets["truststore password"]},
          "keystore": {"location": "/nonexistent/keystore.jks", "password": secrets["keystore password"],
                       "key_password": secrets["keystore key_password"]},
          "settings": {"ssl.truststore.password": secrets["settings ssl.truststore.password"], "linger.ms": 7}}, False),
        ("Mirror on MM2 that cannot be reached", "kafka_mirror",
         dict(pair, name=unique("sec-mm2"), include=include, engine="mirrormaker2", mirrormaker2=mm2, timeout=20), True),
        ("Alibaba API that cannot be reached", "kafka_alibaba_instance",
         {"alibaba": {"region_id": "cn-hangzhou", "endpoint": "127.0.0.1:1", "protocol": "http", "request_timeout": 2,
                      "access_key_id": "LTAI-test", "access_key_secret": secrets["alibaba access_key_secret"],
                      "security_token": secrets["alibaba security_token"]},
          "name": unique("sec-inst"), "wait_timeout": 5, "interval": 1}, True),
        ("Topic sync against an unreachable target", "kafka_topic_sync",
         dict(source=source, target=unreachable, include=include, timeout=8), True),
        ("Topic sync with an argument of the wrong type", "kafka_topic_sync",
         dict(pair, include=include, timeout="not-a-number"), True),
    ]
    play = [{"name": "Every module with secrets", "hosts": "localhost", "gather_facts": False, "tasks": [
        dict({"name": name, "kafkaops.migration." + module: args_, "register": "r%d" % i},
             **({"ignore_errors": True} if may_fail else {})) for i, (name, module, args_, may_fail) in enumerate(tasks)
    ] + [{"name": "Write the registered results", "ansible.builtin.copy": {
        "content": "{{ [%s] | to_json }}" % ", ".join("r%d" % i for i in range(len(tasks))),
        "dest": str(tmp_path / "results.json"), "mode": "0600"}}]}]
    playbook = tmp_path / "secrets.yml"
    playbook.write_text(json.dumps(play))
    log = tmp_path / "ansible.log"
    rc, output = run_playbook(str(playbook), diff=True, verbosity=3, env={"ANSIBLE_LOG_PATH": str(log)}, timeout=400)
    assert rc == 0, output

    results = json.loads((tmp_path / "results.json").read_text())
    by_name = dict(zip([t[0] for t in tasks], results))
    # The runs did their work (so the secrets were really used), and the expected ones failed.
    assert by_name["Topic sync"]["changed"] is True and by_name["Topic sync"]["created"] == [topic], by_name["Topic sync"]
    assert by_name["Mirror"]["records"] == 10, by_name["Mirror"]
    assert by_name["Lag wait"].get("failed") is not True, by_name["Lag wait"]
    for name, (_n, _m, _a, may_fail) in zip(by_name, tasks):
        assert by_name[name].get("failed", False) is may_fail, (name, by_name[name].get("msg"))
    assert "argument 'timeout'" in by_name["Topic sync with an argument of the wrong type"]["msg"]
    assert "no answer from 127.0.0.1:1 after 3 attempt(s): Connection refused" in by_name["Alibaba API that cannot be reached"]["msg"]
    # The masked invocation is shown at -vvv: the module's arguments are there, the secrets are not.
    assert output.count('"module_args"') >= len(tasks), output[-3000:]
    assert '"sasl_username": "%s"' % user in output
    assert output.count('"sasl.password": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"') >= len(tasks) - 2
    assert '"access_key_secret": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"' in output

    places = {"playbook output": output, "Ansible's log file": log.read_text(),
              "registered results": json.dumps(results),
              "mirror progress file": progress.read_text(), "lag wait history file": history.read_text()}
    for where, text in places.items():
        leaked = sorted(place for place, value in secrets.items() if value in text)
        assert not leaked, "secrets from %s appear in the %s" % (leaked, where)
        assert MARK not in text, "a secret appears in the %s near %r" % (where, text[max(text.find(MARK) - 200, 0):text.find(MARK) + 80])

    # The applications' files hold what the applications need, and only their owner may read them.
    librdkafka_text, java_text = app_conf.read_text(), java_conf.read_text()
    # (an application gets the cluster's connection options; ``config`` tunes the modules' own clients)
    assert "sasl.password=%s" % secrets["sasl_password"] in librdkafka_text
    assert secrets["sasl_password"] in java_text and secrets["settings ssl.truststore.password"] in java_text
    for path in (app_conf, java_conf):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, (path, oct(os.stat(path).st_mode))
    # Nothing else in the working folder (results, progress, history, log, backups) holds a secret.
    for root, _dirs, files in os.walk(tmp_path):
        for f in files:
            path = os.path.join(root, f)
            if path in (str(app_conf), str(java_conf), str(playbook)):  # the apps' files; the test's own input
                continue
            with open(path, "rb") as fh:
                assert MARK.encode() not in fh.read(), "a secret is in %s" % path


def test_migrate_at_vvv_with_diff_shows_no_secret(clusters, probe_user, unique, tmp_path):
    """playbooks/migrate.yml, all eight steps in check mode at ``-vvv --diff`` (every role, every module task
    with its masked invocation and its diff), with the target reached as the probe user: no secret in the
    output or Ansible's log file, and nothing written."""
    from tests.integration.test_demo_apps import wait_for
    from tests.integration.test_roles_kafka import AppRig

    tag, user, password = probe_user
    option_secret = _secret("sasl-option", tag)
    rig = AppRig(clusters, tmp_path, unique, "sec-migrate")
    target = dict(clusters.target, sasl_username=user, sasl_password=option_secret,
                  config={"sasl.password": password})  # the modules authenticate with config's password
    extra = rig.extra(kafka_migration_procedure="drain", kafka_evaluate_sample_window=0,
                      kafka_evaluate_include=[re.escape(rig.topic)], kafka_target=target)
    log = tmp_path / "ansible.log"
    with rig.supervisor as sup:
        sup.ctl("start", "consumer-old", *rig.producers)
        wait_for("the old consumer to process and commit", lambda: len(rig.ledger("old")) >= 20, 90)
        files_before = dict((p.name, p.read_text()) for p in sorted(rig.folder.glob("*.properties")))
        rc, output = rig.run(extra, check=True, verbosity=3, env={"ANSIBLE_LOG_PATH": str(log)})
    assert rc == 0, output[-6000:]
    assert "recommended target:" in output and "would create: 1 topic(s)" in output  # the steps really ran
    assert '"sasl_username": "%s"' % user in output                                 # invocations are shown
    assert '"sasl.password": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"' in output
    for where, text in (("playbook output", output), ("Ansible's log file", log.read_text())):
        for name, value in (("config sasl.password", password), ("sasl_password option", option_secret),
                            ("the harness's admin password", clusters["target"]["sasl_password"])):
            assert value not in text, "the %s appears in the %s" % (name, where)
        assert MARK not in text, "a secret appears in the %s near %r" % (where, text[max(text.find(MARK) - 200, 0):text.find(MARK) + 80])
    assert dict((p.name, p.read_text()) for p in sorted(rig.folder.glob("*.properties"))) == files_before
