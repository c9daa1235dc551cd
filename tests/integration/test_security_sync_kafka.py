"""kafka_security_sync against the real clusters: SCRAM users and ACLs from the ZooKeeper source (AclAuthorizer)
to the KRaft target (StandardAuthorizer, SASL_PLAINTEXT SCRAM-SHA-512).

Every user, principal, topic and group is named after the test's unique tag, and every ACL made here is on a
LITERAL resource of such a name (never CLUSTER, never ``*``): the shared clusters stay open to the other tests.
The proof that a migrated user works: a client logs in to the target with the password given to the module,
writes to the topic its ACL allows and is refused on a topic whose ACL names another principal.
"""

import json
import os
import re
import time

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from ansible_collections.kafkaops.migration.plugins.modules import kafka_security_sync
from tests.utils.modules import FailJson, run_module
from tests.utils.playbook import play_recap, run_playbook
from tests.utils.wait import wait_topics_on_every_broker, wait_until

pytestmark = pytest.mark.kafka

PLAYBOOK = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "playbooks",
                        "security.yml")
TARGET_DIR = os.path.join(os.path.dirname(__file__), "targets", "kafka_security_sync")
MECH = {"SCRAM-SHA-512": ScramMechanism.SCRAM_SHA_512, "SCRAM-SHA-256": ScramMechanism.SCRAM_SHA_256}


def _all(futures, timeout=30):
    return {k: f.result(timeout) for k, f in futures.items()}


class Rig:
    """Users, ACLs and topics of one test on both clusters, all named after one unique tag; removed at the end."""

    def __init__(self, clusters, unique):
        self.clusters = clusters
        self.admin = {side: AdminClient(clusters.librdkafka(side)) for side in ("source", "target")}
        self.app1 = unique("secapp1")                       # a SCRAM user on the source
        self.app2 = unique("secapp2")                       # a second one (no password given in some tests)
        self.cert = "User:CN=%s,OU=apps" % self.app1        # a certificate principal on the source
        self.other = "User:%s" % unique("secother")         # someone else
        self.topic = unique("sec-topic")                    # app1 may write here
        self.denied = unique("sec-denied")                  # only "other" may write here
        self.group = unique("sec-group")
        self.tag = self.topic.rsplit("-", 1)[1]
        self.users = {"source": [], "target": []}
        self.topics = {"source": [], "target": []}

    # -- set-up -------------------------------------------------------------------------------------
    def add_user(self, side, name, password, mechanism="SCRAM-SHA-512"):
        up = UserScramCredentialUpsertion(name, ScramCredentialInfo(MECH[mechanism], 4096), password.encode())
        _all(self.admin[side].alter_user_scram_credentials([up], request_timeout=20))
        self.users[side].append((name, mechanism))
        wait_until("user %s on the %s" % (name, side), lambda: mechanism in self.user_mechanisms(side).get(name, []), timeout=30)

    def add_acls(self, side, bindings):
        _all(self.admin[side].create_acls(bindings, request_timeout=20))
        wanted = set(map(str, bindings))
        wait_until("%d ACL(s) on the %s" % (len(bindings), side), lambda: wanted <= set(map(str, self.acls(side))), timeout=30)

    def create_topic(self, side, name, partitions=1):
        rf = 2
        _all(self.admin[side].create_topics([NewTopic(name, partitions, rf)], request_timeout=30))
        self.topics[side].append(name)
        wait_topics_on_every_broker(self.clusters.librdkafka(side), name, partitions)

    def source_setup(self):
        """app1 (SCRAM-SHA-512) and app2 on the source; ACLs for app1's certificate principal and for "other"."""
        self.add_user("source", self.app1, "source-pw-1")
        self.add_user("source", self.app2, "source-pw-2")
        acls = [self.binding(self.cert, op, ResourceType.TOPIC, self.topic) for op in (AclOperation.WRITE, AclOperation.DESCRIBE)]
        acls.append(self.binding(self.cert, AclOperation.READ, ResourceType.GROUP, self.group))
        acls.append(self.binding(self.other, AclOperation.WRITE, ResourceType.TOPIC, self.denied))
        self.add_acls("source", acls)
        return acls

    @staticmethod
    def binding(principal, op, rtype, name):
        return AclBinding(rtype, name, ResourcePatternType.LITERAL, principal, "*", op, AclPermissionType.ALLOW)

    # -- reading ---------------------------------------------------------------------------------------
    def acls(self, side):
        """The ACLs of this test's resources on one cluster."""
        flt = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                               AclPermissionType.ANY)
        bindings = self.admin[side].describe_acls(flt, request_timeout=20).result(30)
        return sorted((b for b in bindings if b.name.endswith(self.tag)), key=str)

    def user_mechanisms(self, side):
        users = self.admin[side].describe_user_scram_credentials(None, request_timeout=20).result(30)
        return dict((n, sorted(i.mechanism.name.replace("_", "-") for i in d.scram_credential_infos))
                    for n, d in users.items() if n.endswith(self.tag))

    def snapshot(self):
        return {side: {"acls": [str(b) for b in self.acls(side)], "users": self.user_mechanisms(side)}
                for side in ("source", "target")}

    # -- the module -----------------------------------------------------------------------------------
    def args(self, **kw):
        args = {"source": self.clusters.source, "target": self.clusters.target, "timeout": 60,
                "principal_include": [".*%s.*" % re.escape(self.tag)],
                "resource_include": [".*%s" % re.escape(self.tag)],
                "principal_map": {self.cert: "User:%s" % self.app1}}
        args.update(kw)
        return args

    def client(self, user, password, **extra):
        conf = dict(self.clusters.librdkafka("target"), **{"sasl.username": user, "sasl.password": password})
        conf.update(extra)
        return conf

    def cleanup(self):
        for side in ("source", "target"):
            admin = self.admin[side]
            try:
                names = sorted(set(b.name for b in self.acls(side)))
                filters = [AclBindingFilter(ResourceType.ANY, n, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                                            AclPermissionType.ANY) for n in names]
                if filters:
                    _all(admin.delete_acls(filters, request_timeout=20))
            except Exception:  # noqa: BLE001 - best effort
                pass
            try:
                have = self.user_mechanisms(side)
                dels = [UserScramCredentialDeletion(n, MECH[m]) for n, mechs in have.items() for m in mechs]
                if dels:
                    for fut in admin.alter_user_scram_credentials(dels, request_timeout=20).values():
                        try:
                            fut.result(30)
                        except Exception:  # noqa: BLE001
                            pass
            except Exception:  # noqa: BLE001
                pass
            if self.topics[side]:
                for fut in admin.delete_topics(self.topics[side], operation_timeout=20).values():
                    try:
                        fut.result(30)
                    except Exception:  # noqa: BLE001
                        pass


@pytest.fixture
def rig(clusters, unique):
    r = Rig(clusters, unique)
    try:
        yield r
    finally:
        r.cleanup()


def logs_in(conf):
    """Whether a client with ``conf`` authenticates to the target (a metadata request answers)."""
    try:
        AdminClient(conf).list_topics(timeout=5)
        return True
    except KafkaException:
        return False


def produce_one(conf, topic):
    """The delivery error of one record (None when it was written)."""
    errors = []
    p = Producer(dict(conf, **{"message.timeout.ms": 15000, "enable.idempotence": False, "acks": "all"}))
    p.produce(topic, b"v", b"k", on_delivery=lambda err, msg: errors.append(err))
    p.flush(20)
    assert errors, "no delivery report within 20 s"
    return errors[0]


# -- the whole story: check mode, the diff, the sync (through ansible at -vvv), idempotence, the proof ------

def test_check_mode_sync_idempotence_and_the_migrated_user_logs_in(clusters, rig, tmp_path):
    rig.source_setup()
    password = "KOPS-user-secret-%s" % rig.tag
    users = [{"name": rig.app1, "password": password}, {"name": rig.app2, "password": password + "-2"}]
    before = rig.snapshot()
    assert before["target"] == {"acls": [], "users": {}}

    # check mode with --diff: says what it would do, changes nothing
    res = run_module(kafka_security_sync, rig.args(users=users), check_mode=True, diff=True)
    assert res["changed"] is True and res["check_mode"] is True
    assert sorted((u["name"], u["mechanism"]) for u in res["users_created"]) == [
        (rig.app1, "SCRAM-SHA-512"), (rig.app2, "SCRAM-SHA-512")]
    created = sorted((a["principal"], a["operation"], a["resource_type"], a["resource_name"]) for a in res["acls_created"])
    assert created == sorted([
        ("User:%s" % rig.app1, "WRITE", "TOPIC", rig.topic), ("User:%s" % rig.app1, "DESCRIBE", "TOPIC", rig.topic),
        ("User:%s" % rig.app1, "READ", "GROUP", rig.group), (rig.other, "WRITE", "TOPIC", rig.denied)])
    assert all(a.get("source_principal") == rig.cert for a in res["acls_created"] if a["principal"] != rig.other)
    diff = res["diff"]
    assert diff["before"]["acls"] == [a for a in diff["before"]["acls"] if rig.tag not in a]
    assert "User:%s ALLOW WRITE TOPIC:LITERAL:%s from *" % (rig.app1, rig.topic) in diff["after"]["acls"]
    assert "%s: SCRAM-SHA-512 (4096 iterations), password ******** (set by this run)" % rig.app1 in diff["after"]["users"]
    assert password not in json.dumps(res)
    assert rig.snapshot() == before

    # the sync for real, through ansible-playbook at -vvv --diff: the password is in no output
    play = tmp_path / "sync.yml"
    play.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Sync", "kafkaops.migration.kafka_security_sync": rig.args(users=users), "register": "sync"},
        {"name": "Show", "ansible.builtin.debug": {"var": "sync"}},
    ]}]))
    rc, out = run_playbook(str(play), diff=True, verbosity=3)
    assert rc == 0, out[-5000:]
    assert password not in out and "admin-secret" not in out
    assert play_recap(out)["changed"] == 1
    assert "password ******** (set by this run)" in out
    after = rig.snapshot()
    assert after["target"]["users"] == {rig.app1: ["SCRAM-SHA-512"], rig.app2: ["SCRAM-SHA-512"]}
    assert len(after["target"]["acls"]) == 4
    assert all(rig.cert not in a for a in after["target"]["acls"])     # mapped to User:<app1>
    assert after["source"] == before["source"]

    # a second run changes nothing
    res = run_module(kafka_security_sync, rig.args(users=users), diff=True)
    assert res["changed"] is False and "diff" not in res
    assert res["users_created"] == [] and res["acls_created"] == [] and len(res["acls_unchanged"]) == 4
    assert sorted(u["name"] for u in res["users_unchanged"]) == sorted([rig.app1, rig.app2])
    assert res["extra_acls"] == [] and res["failed_acls"] == [] and res["failed_users"] == {}

    # the proof: app1 logs in with the password given to the module, writes where its ACL allows, is refused elsewhere
    rig.create_topic("target", rig.topic)
    rig.create_topic("target", rig.denied)
    app1 = rig.client(rig.app1, password)
    wait_until("app1 to log in to the target", lambda: logs_in(app1), timeout=60)
    assert produce_one(app1, rig.topic) is None
    err = produce_one(app1, rig.denied)
    assert err is not None and err.name() == "TOPIC_AUTHORIZATION_FAILED", err
    assert not logs_in(rig.client(rig.app1, "wrong-" + password))


def test_missing_password_fails_before_any_change_unless_skipped(clusters, rig):
    rig.source_setup()
    before = rig.snapshot()
    users = [{"name": rig.app1, "password": "pw-%s" % rig.tag}]
    with pytest.raises(FailJson) as failed:
        run_module(kafka_security_sync, rig.args(users=users))
    res = failed.value.result
    assert res["missing_passwords"] == [rig.app2] and res["changed"] is False
    assert rig.app2 in res["msg"] and "missing_password: skip" in res["msg"]
    assert rig.snapshot() == before

    res = run_module(kafka_security_sync, rig.args(users=users, missing_password="skip"))
    assert res["changed"] is True
    assert "missing_password=skip" in res["users_skipped"][rig.app2]
    assert rig.snapshot()["target"]["users"] == {rig.app1: ["SCRAM-SHA-512"]}


def test_extra_acls_are_reported_and_removed_only_when_asked_and_update_password_always(clusters, rig):
    rig.source_setup()
    pw1 = "first-%s" % rig.tag
    args = rig.args(users=[{"name": rig.app1, "password": pw1}], principal_include=[re.escape(rig.cert)])
    res = run_module(kafka_security_sync, args)
    assert res["changed"] is True and len(res["acls_created"]) == 3
    # an ACL the source does not have, for a principal the sync manages, on a resource of this test
    extra = rig.binding("User:%s" % rig.app1, AclOperation.READ, ResourceType.TOPIC, "extra-%s" % rig.tag)
    rig.add_acls("target", [extra])
    res = run_module(kafka_security_sync, args)
    assert res["changed"] is False and [a["resource_name"] for a in res["extra_acls"]] == ["extra-%s" % rig.tag]
    res = run_module(kafka_security_sync, dict(args, remove_extra_acls=True), check_mode=True)
    assert res["changed"] is True and len(res["acls_removed"]) == 1
    assert str(extra) in rig.snapshot()["target"]["acls"]
    res = run_module(kafka_security_sync, dict(args, remove_extra_acls=True))
    assert res["changed"] is True and res["not_visible"]["not_removed"] == []
    assert str(extra) not in rig.snapshot()["target"]["acls"]

    # update_password: always writes the credential again; the new password then logs in
    pw2 = "second-%s" % rig.tag
    res = run_module(kafka_security_sync, dict(args, users=[{"name": rig.app1, "password": pw2}]))
    assert res["changed"] is False                       # on_create: left alone
    res = run_module(kafka_security_sync, dict(args, users=[{"name": rig.app1, "password": pw2}], update_password="always"))
    assert res["changed"] is True and [u["name"] for u in res["users_updated"]] == [rig.app1]
    wait_until("app1 to log in with the new password", lambda: logs_in(rig.client(rig.app1, pw2)), timeout=60)


def test_bad_input_fails_before_any_kafka_call(clusters, rig):
    unreachable = dict(clusters.target, bootstrap_servers=["127.0.0.1:1"], request_timeout=2)
    start = time.monotonic()
    with pytest.raises(FailJson) as failed:
        run_module(kafka_security_sync, rig.args(target=unreachable, users=[{"name": "x", "password": "p", "iterations": 10}]))
    assert "users[x]" in failed.value.result["invalid"] and failed.value.result["changed"] is False
    with pytest.raises(FailJson) as failed:
        run_module(kafka_security_sync, rig.args(target=unreachable, principal_map={"CN=x": "User:x"}))
    assert "principal_map[CN=x]" in failed.value.result["invalid"]
    assert time.monotonic() - start < 2          # no connection was tried
    with pytest.raises(FailJson) as failed:
        run_module(kafka_security_sync, rig.args(target=clusters.source))
    assert "same cluster" in failed.value.result["msg"]


def test_unreachable_target_fails_within_its_bounds(clusters, rig):
    unreachable = dict(clusters.target, bootstrap_servers=["127.0.0.1:1"], request_timeout=2)
    start = time.monotonic()
    with pytest.raises(FailJson) as failed:
        run_module(kafka_security_sync, rig.args(target=unreachable))
    assert "target cluster (127.0.0.1:1)" in failed.value.result["msg"] and time.monotonic() - start < 15


def test_the_role_through_its_playbook_then_no_change(clusters, rig, tmp_path):
    rig.source_setup()
    extra = {"kafka_source": clusters.source, "kafka_target": clusters.target,
             "kafka_security_users": [{"name": rig.app1, "password": "role-%s" % rig.tag}],
             "kafka_security_missing_password": "skip",
             "kafka_security_principal_include": [".*%s.*" % re.escape(rig.tag)],
             "kafka_security_resource_include": [".*%s" % re.escape(rig.tag)],
             "kafka_security_principal_map": {rig.cert: "User:%s" % rig.app1}}
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(extra))
    rc, out = run_playbook(PLAYBOOK, extra_vars=str(vars_file), check=True, diff=True)
    assert rc == 0, out[-4000:]
    assert "would create: 1 user(s)" in out and rig.snapshot()["target"] == {"acls": [], "users": {}}
    rc, out = run_playbook(PLAYBOOK, extra_vars=str(vars_file))
    assert rc == 0, out[-4000:]
    assert play_recap(out)["changed"] == 1 and "role-%s" % rig.tag not in out
    rc, out = run_playbook(PLAYBOOK, extra_vars=str(vars_file))
    assert rc == 0 and play_recap(out)["changed"] == 0, out[-4000:]


def test_integration_target_check_real_idempotent(clusters, rig):
    rig.source_setup()
    password = "target-%s" % rig.tag
    rc, out = run_playbook(os.path.join(TARGET_DIR, "playbook.yml"), {
        "kafka_source": clusters.source, "kafka_target": clusters.target, "kafka_security_sync_tag": rig.tag,
        "kafka_security_sync_user": rig.app1, "kafka_security_sync_cert": rig.cert,
        "kafka_security_sync_password": password})
    assert rc == 0, out[-4000:]
    assert "failed=0" in out and password not in out
    assert rig.snapshot()["target"]["users"] == {rig.app1: ["SCRAM-SHA-512"]}
