# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ACLs and SASL/SCRAM users from the source to the target (part of step 3: the target's metadata).

Plain Python, no AnsibleModule. Split like :mod:`topics` so the decisions are testable without Kafka:

* :class:`SecurityOptions` validates the options (users and their passwords, the principal map, the
  selection, the topic rename map) before any Kafka call;
* :func:`read` reads a cluster's ACLs (one DescribeAcls with a match-all filter) and SCRAM users
  (one DescribeUserScramCredentials: names, mechanisms, iterations; Kafka never returns passwords);
* :func:`plan` turns the source's and the target's state and the options into a :class:`Plan` (which
  users and ACLs to create, which are already there, which are skipped and why, which target ACLs are
  extra) - pure Python;
* :func:`apply` runs the plan (one AlterUserScramCredentials, one CreateAcls, one DeleteAcls when
  asked), then :func:`verify` describes the target again until everything the run claims is there.

Passwords live only in :class:`SecurityOptions` and in the upsertions sent to the target: no result,
message, warning or diff of this module carries one (the module declares them ``no_log``, too).
Client quotas are not migrated: confluent-kafka has no DescribeClientQuotas / AlterClientQuotas call.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kafkaops.migration.plugins.module_utils import admin, alibaba
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import KafkaOpsError
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline, poll

try:
    from confluent_kafka.admin import (
        AclBinding,
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialDeletion,
        UserScramCredentialUpsertion,
    )
except ImportError:  # connection.Cluster reports the missing library; planning works without it
    pass

MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
DEFAULT_MECHANISM = "SCRAM-SHA-512"
# Kafka's ScramMechanism bounds (org.apache.kafka.common.security.scram.internals.ScramMechanism).
MIN_ITERATIONS = 4096
MAX_ITERATIONS = 16384
DEFAULT_ITERATIONS = 4096
UPDATE_PASSWORD = ("on_create", "always")
MISSING_PASSWORD = ("fail", "skip")
# Kafka's resource types as Kafka names them; librdkafka calls CLUSTER "BROKER" (both are type 4).
RESOURCE_TYPES = ("TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID")
PATTERN_TYPES = ("LITERAL", "PREFIXED")
OPERATIONS = ("ALL", "READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE", "CLUSTER_ACTION",
              "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE")
PERMISSIONS = ("ALLOW", "DENY")
ACL_KEYS = ("principal", "host", "operation", "permission", "resource_type", "pattern_type", "resource_name")
MASK = "********"
WAIT_INTERVAL = 0.2


# ---------------------------------------------------------------------------------------------
# ACLs as plain dicts
# ---------------------------------------------------------------------------------------------
def acl(principal, operation, resource_type, resource_name, permission="ALLOW", host="*", pattern_type="LITERAL"):
    """One ACL binding as the dict every function here uses (Kafka's names for the enums)."""
    return {"principal": principal, "host": host, "operation": operation, "permission": permission,
            "resource_type": resource_type, "pattern_type": pattern_type, "resource_name": resource_name}


def acl_key(a):
    return tuple(a[k] for k in ACL_KEYS)


def acl_text(a):
    """``User:app1 ALLOW READ TOPIC:LITERAL:orders from *``: one ACL on one line (diffs, messages)."""
    return "%s %s %s %s:%s:%s from %s" % (
        a["principal"], a["permission"], a["operation"], a["resource_type"], a["pattern_type"], a["resource_name"], a["host"])


def _sorted_acls(acls):
    return sorted(acls, key=acl_key)


def _enum_name(value):
    return getattr(value, "name", str(value))


def from_binding(binding):
    """An :class:`AclBinding` (confluent-kafka) as an ACL dict; types librdkafka does not know are UNKNOWN."""
    rtype = _enum_name(binding.restype)
    if rtype == "BROKER":
        rtype = "CLUSTER"
    return acl(binding.principal, _enum_name(binding.operation), rtype, binding.name,
               _enum_name(binding.permission_type), binding.host, _enum_name(binding.resource_pattern_type))


def to_binding(a):
    rtype = "BROKER" if a["resource_type"] == "CLUSTER" else a["resource_type"]
    return AclBinding(ResourceType[rtype], a["resource_name"], ResourcePatternType[a["pattern_type"]], a["principal"],
                      a["host"], AclOperation[a["operation"]], AclPermissionType[a["permission"]])


def to_filter(a):
    """The DeleteAcls filter that matches exactly this one ACL."""
    rtype = "BROKER" if a["resource_type"] == "CLUSTER" else a["resource_type"]
    return AclBindingFilter(ResourceType[rtype], a["resource_name"], ResourcePatternType[a["pattern_type"]],
                            a["principal"], a["host"], AclOperation[a["operation"]], AclPermissionType[a["permission"]])


def unsupported_reason(a):
    """Why an ACL read from the source cannot be created on the target by this module (None: it can)."""
    if a["resource_type"] not in RESOURCE_TYPES:
        return "resource type %s is not supported by the Kafka client (confluent-kafka knows %s)" % (
            a["resource_type"], ", ".join(RESOURCE_TYPES))
    if a["pattern_type"] not in PATTERN_TYPES:
        return "pattern type %s is not supported" % a["pattern_type"]
    if a["operation"] not in OPERATIONS:
        return "operation %s is not supported by the Kafka client" % a["operation"]
    if a["permission"] not in PERMISSIONS:
        return "permission type %s is not supported" % a["permission"]
    return None


def principal_problem(principal):
    """Why ``principal`` is not a Kafka principal (``Type:name``), or None."""
    if not isinstance(principal, str) or ":" not in principal:
        return "%r is not a principal of the form Type:name (for example User:app1)" % (principal,)
    ptype, name = principal.split(":", 1)
    if not ptype or not name:
        return "%r is not a principal of the form Type:name (for example User:app1)" % (principal,)
    return None


def user_principal(name):
    return "User:%s" % name


def user_of(principal):
    """The SCRAM user name of a ``User:`` principal, else None."""
    if principal.startswith("User:") and len(principal) > 5:
        return principal[5:]
    return None


# ---------------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------------
class SecurityOptions:
    """The module's options, validated before any Kafka call: bad input raises KafkaOpsError with ``invalid``.

    ``users``: ``[{name, password, mechanism, iterations}]`` by *target* user name (a source user is
    looked up under the name the principal map gives it). ``principal_map``: ``{source principal:
    target principal}``. ``rename`` / ``rename_rule``: the topic names topic sync uses (applied to TOPIC
    resources). ``target``: the target's options (its name rule, its own SASL user, never altered).
    """

    def __init__(self, users=None, missing_password="fail", update_password="on_create", principal_map=None,
                 principal_include=None, principal_exclude=None, resource_include=None, resource_exclude=None,
                 resource_types=None, sync_users=True, sync_acls=True, remove_extra_acls=False, rename=None,
                 rename_rule="underscore", target=None):
        invalid = {}
        if missing_password not in MISSING_PASSWORD:
            invalid["missing_password"] = "must be one of %s, got %r" % (", ".join(MISSING_PASSWORD), missing_password)
        if update_password not in UPDATE_PASSWORD:
            invalid["update_password"] = "must be one of %s, got %r" % (", ".join(UPDATE_PASSWORD), update_password)
        self.missing_password = missing_password
        self.update_password = update_password
        self.sync_users = bool(sync_users)
        self.sync_acls = bool(sync_acls)
        self.remove_extra_acls = bool(remove_extra_acls)
        self.users = {}
        for i, entry in enumerate(users or []):
            where = "users[%d]" % i
            if not isinstance(entry, dict):
                invalid[where] = "must be a dict with name and password"
                continue
            name = entry.get("name")
            if not isinstance(name, str) or not name.strip() or name != name.strip():
                invalid[where] = "name must be a non-empty user name without surrounding spaces"
                continue
            where = "users[%s]" % name
            if name in self.users:
                invalid[where] = "given twice"
                continue
            password = entry.get("password")
            if not isinstance(password, str) or not password:
                invalid[where] = "password must be a non-empty string"
                continue
            mechanism = entry.get("mechanism")
            if mechanism is not None and mechanism not in MECHANISMS:
                invalid[where] = "mechanism must be one of %s, got %r" % (", ".join(MECHANISMS), mechanism)
                continue
            iterations = entry.get("iterations")
            if iterations is not None:
                try:
                    iterations = int(iterations)
                except (TypeError, ValueError):
                    iterations = -1
                if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
                    invalid[where] = "iterations must be an integer from %d to %d (Kafka's bounds), got %r" % (
                        MIN_ITERATIONS, MAX_ITERATIONS, entry.get("iterations"))
                    continue
            self.users[name] = {"password": password, "mechanism": mechanism, "iterations": iterations}
        self.principal_map = {}
        if principal_map is not None and not isinstance(principal_map, dict):
            invalid["principal_map"] = "must be a dict of source principal -> target principal"
        for src, dst in (principal_map or {}).items() if isinstance(principal_map, dict) else ():
            why = principal_problem(src) or principal_problem(dst)
            if why:
                invalid["principal_map[%s]" % src] = why
            else:
                self.principal_map[src] = dst
        self.principal_include = None
        self.principal_exclude = []
        self.resource_include = None
        self.resource_exclude = []
        for attr, value in (("principal_include", principal_include), ("principal_exclude", principal_exclude),
                            ("resource_include", resource_include), ("resource_exclude", resource_exclude)):
            if value is None:
                continue
            try:
                setattr(self, attr, admin.compile_patterns(value, attr))
            except KafkaOpsError as exc:
                invalid[attr] = exc.msg
        self.resource_types = list(RESOURCE_TYPES if resource_types is None else resource_types)
        bad = [t for t in self.resource_types if t not in RESOURCE_TYPES]
        if bad:
            invalid["resource_types"] = "must be among %s, got %s" % (", ".join(RESOURCE_TYPES), ", ".join(map(str, bad)))
        target = target or {}
        if (target.get("api") or "kafka") == "alibaba":
            invalid["target.api"] = (
                "alibaba is not supported: an ApsaraMQ for Kafka instance's SASL users and ACLs are managed through its "
                "OpenAPI (CreateSaslUser, CreateAcl), which this module does not call yet; create them in the console or "
                "with the Alibaba Cloud CLI")
        try:
            self.names = alibaba.TopicNames.of(target, rename, rename_rule)
        except KafkaOpsError as exc:
            invalid["rename"] = exc.msg
            self.names = None
        # the target's own SASL user: its credentials are never altered (the module would lock itself out)
        self.own_user = target.get("sasl_username") if (target.get("security_protocol") or "").startswith("SASL_") else None
        if invalid:
            raise KafkaOpsError("invalid options, nothing was read or changed: %s" % "; ".join(
                "%s: %s" % kv for kv in sorted(invalid.items())), invalid=invalid)

    # -- selection and mapping ---------------------------------------------------------------------------
    def principal_selected(self, principal):
        if self.principal_include is not None and not any(p.fullmatch(principal) for p in self.principal_include):
            return False
        return not any(p.fullmatch(principal) for p in self.principal_exclude)

    def resource_selected(self, a):
        if a["resource_type"] not in self.resource_types:
            return False
        name = a["resource_name"]
        if self.resource_include is not None and not any(p.fullmatch(name) for p in self.resource_include):
            return False
        return not any(p.fullmatch(name) for p in self.resource_exclude)

    def map_principal(self, principal):
        return self.principal_map.get(principal, principal)

    def map_acl(self, a):
        """The target ACL of a source ACL: principal mapped, TOPIC names renamed as topic sync names them."""
        out = dict(a, principal=self.map_principal(a["principal"]))
        if a["resource_type"] == "TOPIC" and a["resource_name"] != "*" and self.names is not None:
            out["resource_name"] = self.names.base(a["resource_name"])
        return out


# ---------------------------------------------------------------------------------------------
# Reading a cluster
# ---------------------------------------------------------------------------------------------
def _match_all():
    return AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                            AclPermissionType.ANY)


def read_acls(cluster):
    """``(acls, None)`` or ``(None, reason)`` when the cluster has no authorizer (SECURITY_DISABLED).

    One DescribeAcls call with a match-all filter."""
    try:
        fut = cluster.admin.describe_acls(_match_all(), **cluster.request_kwargs())
    except Exception as exc:
        raise cluster.fail("describe ACLs", exc)
    try:
        bindings = cluster.result(fut, "describe ACLs")
    except KafkaOpsError as exc:
        if "SECURITY_DISABLED" in exc.msg:
            return None, "the %s has no authorizer (SECURITY_DISABLED)" % cluster.name
        raise
    return _sorted_acls(from_binding(b) for b in bindings), None


def read_users(cluster):
    """``{user: {mechanism: iterations}}`` of every SCRAM user (one DescribeUserScramCredentials call).

    Kafka returns names, mechanisms and iterations only, never a password or a salted hash."""
    try:
        fut = cluster.admin.describe_user_scram_credentials(None, **cluster.request_kwargs())
    except Exception as exc:
        raise cluster.fail("describe SCRAM users", exc)
    described = cluster.result(fut, "describe SCRAM users")
    out = {}
    for name, desc in (described or {}).items():
        out[name] = dict((_enum_name(i.mechanism).replace("_", "-"), int(i.iterations))
                         for i in desc.scram_credential_infos or [])
    return out


def read(cluster, users=True, acls=True):
    """``{"acls": [...] or None, "acls_unavailable": reason or None, "users": {...}}`` of one cluster."""
    state = {"acls": [], "acls_unavailable": None, "users": {}}
    if acls:
        state["acls"], state["acls_unavailable"] = read_acls(cluster)
    if users:
        state["users"] = read_users(cluster)
    return state


# ---------------------------------------------------------------------------------------------
# The plan (pure)
# ---------------------------------------------------------------------------------------------
class Plan:
    def __init__(self):
        self.users_create = []      # [{name, mechanism, iterations, source_user}] (passwords in upserts)
        self.users_update = []
        self.users_unchanged = []
        self.users_skipped = {}     # name -> why
        self.missing_passwords = []
        self.extra_users = []
        self.upserts = []           # [(name, mechanism, iterations, password)] never returned
        self.acls_create = []
        self.acls_unchanged = []
        self.acls_skipped = []      # [{acl..., reason}]
        self.extra_acls = []
        self.acls_remove = []
        self.source_principal = {}  # acl_key(target acl) -> source principal, when mapped
        self.warnings = []
        self.target_acls = []
        self.target_users = {}

    @property
    def changed(self):
        return bool(self.users_create or self.users_update or self.acls_create or self.acls_remove)

    def diff(self):
        """Before/after of the target: ACLs as text lines, users as name + mechanism (passwords masked)."""
        before_acls = [acl_text(a) for a in _sorted_acls(self.target_acls)]
        removed = set(acl_key(a) for a in self.acls_remove)
        after = [a for a in self.target_acls if acl_key(a) not in removed] + self.acls_create
        after_acls = [acl_text(a) for a in _sorted_acls(after)]

        changed = set((u["name"], u["mechanism"]) for u in self.users_create + self.users_update)

        def user_lines(users, mark=False):
            lines = []
            for n, mechs in users.items():
                for m, i in mechs.items():
                    note = ", password %s (set by this run)" % MASK if mark and (n, m) in changed else ""
                    lines.append("%s: %s (%d iterations)%s" % (n, m, i, note))
            return sorted(lines)

        before_users = user_lines(self.target_users)
        after_map = dict((n, dict(m)) for n, m in self.target_users.items())
        for u in self.users_create + self.users_update:
            after_map.setdefault(u["name"], {})[u["mechanism"]] = u["iterations"]
        after_users = user_lines(after_map, mark=True)
        return {"before": {"acls": before_acls, "users": before_users},
                "after": {"acls": after_acls, "users": after_users}}


def _rename_warnings(options, source_acls):
    """PREFIXED topic ACLs that no longer cover a renamed topic on the target."""
    out = []
    if options.names is None:
        return out
    for a in source_acls:
        if a["resource_type"] != "TOPIC" or a["pattern_type"] != "PREFIXED":
            continue
        mapped = options.map_acl(a)["resource_name"]
        for src, dst in sorted(options.names.rename.items()):
            if src.startswith(a["resource_name"]) and not dst.startswith(mapped):
                out.append("the PREFIXED ACL %s covers topic %r on the source, but not its target name %r: add an ACL "
                           "for the renamed topic" % (acl_text(a), src, dst))
    return out


def plan(source, target, options):
    """What to do on the target: ``source`` / ``target`` are :func:`read` states. Pure."""
    p = Plan()
    p.target_acls = list(target.get("acls") or [])
    p.target_users = dict((n, dict(m)) for n, m in (target.get("users") or {}).items())
    managed_principals = set()
    if options.sync_users:
        _plan_users(p, source.get("users") or {}, options, managed_principals)
    if options.sync_acls:
        _plan_acls(p, source, target, options, managed_principals)
    return p


def _plan_users(p, source_users, options, managed_principals):
    wanted = {}  # target user -> {"source": name or None, "mechanisms": {mech: iterations}}
    for name in sorted(source_users):
        principal = user_principal(name)
        if not options.principal_selected(principal):
            continue
        target_principal = options.map_principal(principal)
        target_name = user_of(target_principal)
        if target_name is None:
            p.users_skipped[name] = "the principal map gives %s, not a User: principal, so no SCRAM user is created" % (
                target_principal)
            continue
        entry = wanted.setdefault(target_name, {"source": name, "mechanisms": {}})
        entry["mechanisms"].update(source_users[name])
    for name, given in sorted(options.users.items()):
        wanted.setdefault(name, {"source": None, "mechanisms": {}})
    for name, want in sorted(wanted.items()):
        given = options.users.get(name)
        managed_principals.add(user_principal(name))
        if options.own_user and name == options.own_user:
            p.users_skipped[name] = "the target's own SASL user (the module's connection): its credentials are never altered"
            continue
        if given is None:
            if options.missing_password == "skip":
                p.users_skipped[name] = "no password given in users (missing_password=skip)"
            else:
                p.missing_passwords.append(name)
            continue
        if given["mechanism"]:
            mechanisms = {given["mechanism"]: want["mechanisms"].get(given["mechanism"])}
        else:
            mechanisms = dict(want["mechanisms"]) or {DEFAULT_MECHANISM: None}
        have = p.target_users.get(name, {})
        for mechanism, source_iterations in sorted(mechanisms.items()):
            iterations = given["iterations"] or source_iterations or DEFAULT_ITERATIONS
            item = {"name": name, "mechanism": mechanism, "iterations": iterations}
            if want["source"] is not None and want["source"] != name:
                item["source_user"] = want["source"]
            if mechanism not in have:
                p.users_create.append(item)
            elif options.update_password == "always":
                p.users_update.append(item)
            else:
                if have[mechanism] != iterations:
                    item["target_iterations"] = have[mechanism]
                p.users_unchanged.append(item)
                continue
            p.upserts.append((name, mechanism, iterations, given["password"]))
    known = set(wanted) | set([options.own_user] if options.own_user else [])
    p.extra_users = sorted(n for n in p.target_users if n not in known)


def _plan_acls(p, source, target, options, managed_principals):
    if source.get("acls_unavailable"):
        p.warnings.append("no ACLs read from the source: %s" % source["acls_unavailable"])
    have = set(acl_key(a) for a in target.get("acls") or [])
    desired = {}
    for a in source.get("acls") or []:
        if not options.principal_selected(a["principal"]) or not options.resource_selected(a):
            continue
        why = unsupported_reason(a)
        if why:
            p.acls_skipped.append(dict(a, reason=why))
            continue
        mapped = options.map_acl(a)
        key = acl_key(mapped)
        managed_principals.add(mapped["principal"])
        if key in desired:
            continue
        desired[key] = mapped
        if mapped["principal"] != a["principal"]:
            p.source_principal[key] = a["principal"]
        if key in have:
            p.acls_unchanged.append(mapped)
        else:
            p.acls_create.append(mapped)
    if desired and target.get("acls_unavailable"):
        raise KafkaOpsError("nothing was changed: %s, so the %d selected source ACL(s) cannot be created; configure an "
                            "authorizer on the target (authorizer.class.name) or set sync_acls: false"
                            % (target["acls_unavailable"], len(desired)))
    own = user_principal(options.own_user) if options.own_user else None
    for a in target.get("acls") or []:
        key = acl_key(a)
        if key in desired or a["principal"] not in managed_principals or a["principal"] == own:
            continue
        if not options.resource_selected(a):
            continue
        p.extra_acls.append(a)
        if options.remove_extra_acls:
            p.acls_remove.append(a)
    p.warnings.extend(_rename_warnings(options, [a for a in source.get("acls") or []
                                                 if options.principal_selected(a["principal"])]))


# ---------------------------------------------------------------------------------------------
# Applying the plan, and the proof
# ---------------------------------------------------------------------------------------------
def _mechanism(name):
    return ScramMechanism[name.replace("-", "_")]


def apply(cluster, p):
    """Create the users (one call) and ACLs (one call), remove the extra ACLs when asked (one call).

    Returns ``(failed_users, failed_acls)``: ``{user: error}`` and ``[{acl..., error}]``."""
    failed_users, failed_acls = {}, []
    if p.upserts:
        alterations = [UserScramCredentialUpsertion(name, ScramCredentialInfo(_mechanism(mech), iterations),
                                                    password.encode("utf-8"))
                       for name, mech, iterations, password in p.upserts]
        try:
            futures = cluster.admin.alter_user_scram_credentials(alterations, **cluster.request_kwargs())
        except Exception as exc:
            raise cluster.fail("alter SCRAM credentials", exc)
        _ok, errors = cluster.results(futures, "alter SCRAM credentials")
        failed_users.update(errors)
    if p.acls_create:
        bindings = dict((to_binding(a), a) for a in p.acls_create)
        try:
            futures = cluster.admin.create_acls(list(bindings), **cluster.request_kwargs())
        except Exception as exc:
            raise cluster.fail("create ACLs", exc)
        _ok, errors = cluster.results(futures, "create ACLs")
        for binding, error in errors.items():
            failed_acls.append(dict(bindings[binding], error=error))
    if p.acls_remove:
        filters = dict((to_filter(a), a) for a in p.acls_remove)
        try:
            futures = cluster.admin.delete_acls(list(filters), **cluster.request_kwargs())
        except Exception as exc:
            raise cluster.fail("delete ACLs", exc)
        _ok, errors = cluster.results(futures, "delete ACLs")
        for flt, error in errors.items():
            failed_acls.append(dict(filters[flt], error=error))
    return failed_users, _sorted_acls(failed_acls)


def missing_after(p, state, failed_users=None, failed_acls=None):
    """What the run claims (created, updated, removed) that the target's ``state`` does not show. Pure."""
    failed_users = failed_users or {}
    failed = set(acl_key(dict((k, a[k]) for k in ACL_KEYS)) for a in failed_acls or [])
    have = set(acl_key(a) for a in state.get("acls") or [])
    missing = {"acls": [], "users": [], "still_there": []}
    for a in p.acls_create:
        if acl_key(a) not in failed and acl_key(a) not in have:
            missing["acls"].append(a)
    for a in p.acls_remove:
        if acl_key(a) not in failed and acl_key(a) in have:
            missing["still_there"].append(a)
    users = state.get("users") or {}
    for u in p.users_create + p.users_update:
        if u["name"] not in failed_users and u["mechanism"] not in users.get(u["name"], {}):
            missing["users"].append(u)
    return missing


def verify(cluster, p, failed_users, failed_acls, seconds=30.0, sleep=None):
    """Describe the target again until it shows every change the run claims, within ``seconds``
    (never past the module's deadline). Returns what is still not shown (empty lists: proven)."""
    budget = Deadline(seconds if cluster.deadline.remaining() is None else min(seconds, max(cluster.deadline.remaining() - 1, 0.5)))
    kwargs = {} if sleep is None else {"sleep": sleep}
    missing = None
    for _elapsed in poll(WAIT_INTERVAL, budget, backoff=1.5, max_interval=2.0, **kwargs):
        state = read(cluster, users=bool(p.users_create or p.users_update), acls=bool(p.acls_create or p.acls_remove))
        missing = missing_after(p, state, failed_users, failed_acls)
        if not any(missing.values()):
            break
    return missing


def delete_users(cluster, credentials):
    """Delete SCRAM credentials ``[(user, mechanism)]`` (tests clean up with it; the module never deletes users)."""
    if not credentials:
        return {}
    deletions = [UserScramCredentialDeletion(name, _mechanism(mech)) for name, mech in credentials]
    futures = cluster.admin.alter_user_scram_credentials(deletions, **cluster.request_kwargs())
    return cluster.results(futures, "delete SCRAM credentials")[1]


def public_acl(a, p=None):
    """An ACL for the results (with ``source_principal`` when the principal map changed it)."""
    out = dict((k, a[k]) for k in ACL_KEYS)
    if p is not None and acl_key(a) in p.source_principal:
        out["source_principal"] = p.source_principal[acl_key(a)]
    for extra in ("reason", "error"):
        if extra in a:
            out[extra] = a[extra]
    return out


def result_of(p, check_mode=False):
    """The module's result keys from a plan (no password anywhere)."""
    return {
        "changed": p.changed,
        "users_created": [dict(u) for u in p.users_create],
        "users_updated": [dict(u) for u in p.users_update],
        "users_unchanged": [dict(u) for u in p.users_unchanged],
        "users_skipped": dict(p.users_skipped),
        "extra_users": list(p.extra_users),
        "acls_created": [public_acl(a, p) for a in _sorted_acls(p.acls_create)],
        "acls_unchanged": [public_acl(a, p) for a in _sorted_acls(p.acls_unchanged)],
        "acls_skipped": [public_acl(a) for a in p.acls_skipped],
        "extra_acls": [public_acl(a) for a in _sorted_acls(p.extra_acls)],
        "acls_removed": [public_acl(a) for a in _sorted_acls(p.acls_remove)],
        "summary": {
            "users_created": len(p.users_create), "users_updated": len(p.users_update),
            "users_unchanged": len(p.users_unchanged), "users_skipped": len(p.users_skipped),
            "acls_created": len(p.acls_create), "acls_unchanged": len(p.acls_unchanged),
            "acls_skipped": len(p.acls_skipped), "extra_acls": len(p.extra_acls), "acls_removed": len(p.acls_remove),
            "target_acls": len(p.target_acls), "target_users": len(p.target_users),
        },
        "check_mode": bool(check_mode),
    }


def missing_password_message(p):
    return ("nothing was changed: %d SCRAM user(s) of the source have no password in the users option: %s. Kafka stores "
            "only salted hashes, so a user's password cannot be read from the source: give each one in users "
            "(name, password), or set missing_password: skip to leave them out (their applications cannot log in to "
            "the target then), or narrow principal_include / principal_exclude"
            % (len(p.missing_passwords), ", ".join(p.missing_passwords)))


def sync(source, target, options, check_mode=False, wait_timeout=30.0):
    """Read both clusters, plan, apply (unless ``check_mode``) and prove; ``(result, diff)``.

    A missing password (``missing_password=fail``) raises KafkaOpsError before any change."""
    timings = {}
    clock = Deadline(None)
    src_state = read(source, users=options.sync_users, acls=options.sync_acls)
    tgt_state = read(target, users=options.sync_users, acls=options.sync_acls)
    timings["read"] = round(clock.elapsed(), 3)
    p = plan(src_state, tgt_state, options)
    if p.missing_passwords:
        raise KafkaOpsError(missing_password_message(p), missing_passwords=list(p.missing_passwords), changed=False)
    result = result_of(p, check_mode)
    result["warnings"] = list(p.warnings)
    result["failed_users"], result["failed_acls"] = {}, []
    if p.changed and not check_mode:
        start = clock.elapsed()
        failed_users, failed_acls = apply(target, p)
        timings["apply"] = round(clock.elapsed() - start, 3)
        result["failed_users"] = failed_users
        result["failed_acls"] = [public_acl(a) for a in failed_acls]
        start = clock.elapsed()
        missing = verify(target, p, failed_users, failed_acls, seconds=wait_timeout)
        timings["verify"] = round(clock.elapsed() - start, 3)
        result["not_visible"] = {"users": missing["users"], "acls": [public_acl(a) for a in missing["acls"]],
                                 "not_removed": [public_acl(a) for a in missing["still_there"]]}
        # what failed did not change; the rest did
        done_users = [u for u in p.users_create + p.users_update if u["name"] not in failed_users]
        failed_keys = set(acl_key(dict((k, a[k]) for k in ACL_KEYS)) for a in failed_acls)
        done_acls = [a for a in p.acls_create + p.acls_remove if acl_key(a) not in failed_keys]
        result["changed"] = bool(done_users or done_acls)
    timings["total"] = round(clock.elapsed(), 3)
    result["timings"] = timings
    return result, p.diff()
