"""The planning logic of kafka_security_sync: validation, mapping, diffing (no Kafka)."""

import json

import pytest

from ansible_collections.kafkaops.migration.plugins.module_utils import security
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import KafkaOpsError
from ansible_collections.kafkaops.migration.plugins.module_utils.security import SecurityOptions, acl, plan

TARGET = {"bootstrap_servers": ["t:9093"], "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
          "sasl_username": "admin", "sasl_password": "admin-secret"}
SECRET = "s3cret-Pa55"


def opts(**kw):
    kw.setdefault("target", TARGET)
    return SecurityOptions(**kw)


def state(acls=None, users=None, unavailable=None):
    return {"acls": list(acls or []), "users": dict(users or {}), "acls_unavailable": unavailable}


def pw(name, **kw):
    return dict({"name": name, "password": SECRET}, **kw)


# -- validation: before any Kafka call -------------------------------------------------------------

@pytest.mark.parametrize("kw, where", [
    (dict(users=[{"name": "a", "password": ""}]), "users[a]"),
    (dict(users=[{"name": "a", "password": "x"}, {"name": "a", "password": "y"}]), "users[a]"),
    (dict(users=[{"name": " a", "password": "x"}]), "users[0]"),
    (dict(users=[pw("a", mechanism="PLAIN")]), "users[a]"),
    (dict(users=[pw("a", iterations=1000)]), "users[a]"),
    (dict(users=[pw("a", iterations=20000)]), "users[a]"),
    (dict(principal_map={"CN=app1": "User:app1"}), "principal_map[CN=app1]"),
    (dict(principal_map={"User:a": "User:"}), "principal_map[User:a]"),
    (dict(principal_include=["("]), "principal_include"),
    (dict(resource_exclude=["[x"]), "resource_exclude"),
    (dict(resource_types=["TOPIC", "USER"]), "resource_types"),
    (dict(missing_password="ask"), "missing_password"),
    (dict(update_password="never"), "update_password"),
    (dict(rename={"a": "x", "b": "x"}), "rename"),
    (dict(target=dict(TARGET, api="alibaba", alibaba={"region_id": "cn-hangzhou"})), "target.api"),
])
def test_bad_options_fail_before_anything_is_read(kw, where):
    with pytest.raises(KafkaOpsError) as err:
        opts(**kw)
    assert where in err.value.details["invalid"]
    assert "nothing was read or changed" in err.value.msg
    assert SECRET not in err.value.msg and SECRET not in json.dumps(err.value.details)


def test_good_options():
    o = opts(users=[pw("a", mechanism="SCRAM-SHA-256", iterations="8192")], principal_map={"User:CN=a,OU=x": "User:a"})
    assert o.users["a"]["iterations"] == 8192 and o.own_user == "admin"
    assert opts(target={"bootstrap_servers": ["t:1"]}).own_user is None


# -- users ------------------------------------------------------------------------------------------

def test_missing_password_lists_the_users_and_plans_nothing_secret():
    p = plan(state(users={"alice": {"SCRAM-SHA-512": 4096}, "bob": {"SCRAM-SHA-256": 8192}}), state(),
             opts(users=[pw("alice")]))
    assert p.missing_passwords == ["bob"]
    assert "bob" in security.missing_password_message(p)
    assert [u["name"] for u in p.users_create] == ["alice"]


def test_missing_password_skip():
    p = plan(state(users={"bob": {"SCRAM-SHA-256": 8192}}), state(), opts(missing_password="skip"))
    assert p.missing_passwords == [] and "missing_password=skip" in p.users_skipped["bob"]
    assert not p.changed


def test_mechanisms_and_iterations_default_from_the_source():
    src = state(users={"alice": {"SCRAM-SHA-512": 8192, "SCRAM-SHA-256": 4096}})
    p = plan(src, state(), opts(users=[pw("alice")]))
    assert sorted((u["mechanism"], u["iterations"]) for u in p.users_create) == [("SCRAM-SHA-256", 4096), ("SCRAM-SHA-512", 8192)]
    assert len(p.upserts) == 2 and all(up[3] == SECRET for up in p.upserts)
    p = plan(src, state(), opts(users=[pw("alice", mechanism="SCRAM-SHA-512", iterations=4096)]))
    assert [(u["mechanism"], u["iterations"]) for u in p.users_create] == [("SCRAM-SHA-512", 4096)]


def test_user_only_in_the_option_is_created_with_the_default_mechanism():
    p = plan(state(), state(), opts(users=[pw("newapp")]))
    assert p.users_create == [{"name": "newapp", "mechanism": "SCRAM-SHA-512", "iterations": 4096}]


def test_existing_credential_is_left_alone_unless_always():
    src = state(users={"alice": {"SCRAM-SHA-512": 4096}})
    tgt = state(users={"alice": {"SCRAM-SHA-512": 8192}, "ops": {"SCRAM-SHA-512": 4096}, "admin": {"SCRAM-SHA-512": 4096}})
    p = plan(src, tgt, opts(users=[pw("alice")]))
    assert not p.changed and p.upserts == []
    assert p.users_unchanged == [{"name": "alice", "mechanism": "SCRAM-SHA-512", "iterations": 4096, "target_iterations": 8192}]
    assert p.extra_users == ["ops"]                     # the target's own admin is not "extra"
    p = plan(src, tgt, opts(users=[pw("alice")], update_password="always"))
    assert p.changed and [u["name"] for u in p.users_update] == ["alice"]


def test_new_mechanism_for_an_existing_user_is_created():
    p = plan(state(users={"alice": {"SCRAM-SHA-512": 4096}}), state(users={"alice": {"SCRAM-SHA-256": 4096}}),
             opts(users=[pw("alice")]))
    assert [(u["name"], u["mechanism"]) for u in p.users_create] == [("alice", "SCRAM-SHA-512")]


def test_the_targets_own_user_is_never_altered():
    p = plan(state(users={"admin": {"SCRAM-SHA-512": 4096}}), state(users={"admin": {"SCRAM-SHA-512": 4096}}),
             opts(users=[pw("admin")], update_password="always"))
    assert not p.changed and "never altered" in p.users_skipped["admin"] and p.missing_passwords == []


def test_principal_map_renames_users_and_principal_filter_selects_them():
    src = state(users={"old-app": {"SCRAM-SHA-512": 4096}, "other": {"SCRAM-SHA-512": 4096}})
    o = opts(users=[pw("new-app")], principal_map={"User:old-app": "User:new-app"}, principal_include=["User:old-.*"])
    p = plan(src, state(), o)
    assert p.users_create == [{"name": "new-app", "mechanism": "SCRAM-SHA-512", "iterations": 4096, "source_user": "old-app"}]
    assert p.missing_passwords == []        # "other" is not selected
    p = plan(state(users={"svc": {"SCRAM-SHA-512": 4096}}), state(), opts(principal_map={"User:svc": "Group:svc"}))
    assert "not a User: principal" in p.users_skipped["svc"]


# -- ACLs -------------------------------------------------------------------------------------------

def test_acls_are_mapped_renamed_and_compared():
    src = state(acls=[
        acl("User:CN=app1,OU=x", "READ", "TOPIC", "orders.v1"),
        acl("User:CN=app1,OU=x", "WRITE", "TOPIC", "orders.", pattern_type="PREFIXED"),
        acl("User:CN=app1,OU=x", "READ", "GROUP", "billing"),
        acl("User:app2", "READ", "TOPIC", "*"),
        acl("User:app2", "DESCRIBE", "TOPIC", "payments"),
    ])
    tgt = state(acls=[acl("User:app2", "DESCRIBE", "TOPIC", "payments"), acl("User:app2", "WRITE", "TOPIC", "legacy"),
                      acl("User:stranger", "READ", "TOPIC", "x"), acl("User:admin", "ALL", "TOPIC", "y")])
    o = opts(principal_map={"User:CN=app1,OU=x": "User:app1"}, rename={"orders.v1": "orders-v1"})
    p = plan(src, tgt, o)
    created = sorted(security.acl_text(a) for a in p.acls_create)
    assert created == [
        "User:app1 ALLOW READ GROUP:LITERAL:billing from *",
        "User:app1 ALLOW READ TOPIC:LITERAL:orders-v1 from *",
        "User:app1 ALLOW WRITE TOPIC:PREFIXED:orders. from *",
        "User:app2 ALLOW READ TOPIC:LITERAL:* from *",
    ]
    assert [security.acl_text(a) for a in p.acls_unchanged] == ["User:app2 ALLOW DESCRIBE TOPIC:LITERAL:payments from *"]
    # extra: only principals the sync manages; never the stranger's, never the admin's
    assert [security.acl_text(a) for a in p.extra_acls] == ["User:app2 ALLOW WRITE TOPIC:LITERAL:legacy from *"]
    assert p.acls_remove == []
    # the PREFIXED ACL covered orders.v1 on the source but not orders-v1
    assert any("orders-v1" in w for w in p.warnings)
    res = security.result_of(p)
    mapped = [a for a in res["acls_created"] if a["resource_name"] == "billing"][0]
    assert mapped["source_principal"] == "User:CN=app1,OU=x"
    assert plan(src, tgt, opts(principal_map=o.principal_map, rename=o.names.rename, remove_extra_acls=True)).acls_remove == p.extra_acls


def test_acl_selection_and_unsupported_types():
    src = state(acls=[
        acl("User:a", "READ", "TOPIC", "t1"), acl("User:a", "READ", "TOPIC", "tmp-1"),
        acl("User:b", "READ", "TOPIC", "t1"), acl("User:a", "IDEMPOTENT_WRITE", "CLUSTER", "kafka-cluster"),
        acl("User:a", "DESCRIBE", "UNKNOWN", "tok"),
    ])
    p = plan(src, state(), opts(principal_include=["User:a"], resource_exclude=["tmp-.*"], resource_types=["TOPIC", "CLUSTER"]))
    assert sorted(a["resource_name"] for a in p.acls_create) == ["kafka-cluster", "t1"]
    assert p.acls_skipped == []      # UNKNOWN is not among the selected resource types
    p = plan(src, state(), opts(principal_include=["User:a"], resource_include=["tok"], resource_types=["TOPIC"]))
    assert p.acls_create == []
    p = plan(state(acls=[acl("User:a", "DESCRIBE", "UNKNOWN", "tok")]), state(), opts(resource_types=None))
    assert p.acls_create == []


def test_unknown_type_is_skipped_with_a_reason():
    o = opts()
    o.resource_types.append("UNKNOWN")      # as if the filter let it through
    p = plan(state(acls=[acl("User:a", "DESCRIBE", "UNKNOWN", "tok")]), state(), o)
    assert p.acls_skipped and "not supported" in p.acls_skipped[0]["reason"]


def test_target_without_authorizer_fails_only_when_acls_are_to_be_created():
    with pytest.raises(KafkaOpsError) as err:
        plan(state(acls=[acl("User:a", "READ", "TOPIC", "t")]), state(unavailable="the target has no authorizer"), opts())
    assert "nothing was changed" in err.value.msg
    p = plan(state(unavailable="the source has no authorizer"), state(unavailable="x"), opts())
    assert not p.changed and p.warnings


def test_nothing_on_the_source_is_a_no_op():
    p = plan(state(), state(acls=[acl("User:x", "READ", "TOPIC", "t")], users={"admin": {"SCRAM-SHA-512": 4096}}), opts())
    assert not p.changed and p.extra_acls == [] and p.extra_users == []


# -- diff and results: never a password --------------------------------------------------------------

def test_diff_shows_acls_and_users_with_masked_passwords():
    src = state(acls=[acl("User:alice", "READ", "TOPIC", "t")], users={"alice": {"SCRAM-SHA-512": 4096}})
    tgt = state(users={"admin": {"SCRAM-SHA-512": 4096}})
    p = plan(src, tgt, opts(users=[pw("alice")]))
    d = p.diff()
    assert d["before"] == {"acls": [], "users": ["admin: SCRAM-SHA-512 (4096 iterations)"]}
    assert d["after"]["acls"] == ["User:alice ALLOW READ TOPIC:LITERAL:t from *"]
    assert "alice: SCRAM-SHA-512 (4096 iterations), password ******** (set by this run)" in d["after"]["users"]
    text = json.dumps([d, security.result_of(p)])
    assert SECRET not in text


def test_missing_after_names_what_the_target_does_not_show():
    a1, a2 = acl("User:a", "READ", "TOPIC", "t1"), acl("User:a", "READ", "TOPIC", "t2")
    p = plan(state(acls=[a1, a2], users={"a": {"SCRAM-SHA-512": 4096}}), state(), opts(users=[pw("a")]))
    shown = state(acls=[a1], users={})
    missing = security.missing_after(p, shown)
    assert [x["resource_name"] for x in missing["acls"]] == ["t2"] and [u["name"] for u in missing["users"]] == ["a"]
    # what the target refused is reported as failed, not as missing
    missing = security.missing_after(p, shown, failed_users={"a": "boom"}, failed_acls=[dict(a2, error="boom")])
    assert not any(missing.values())
    assert not any(security.missing_after(p, state(acls=[a1, a2], users={"a": {"SCRAM-SHA-512": 4096}})).values())
