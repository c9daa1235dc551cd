# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kafka_mirror's MirrorMaker 2 engine: MM2 connectors on an existing Kafka Connect cluster.

Plain Python (no AnsibleModule here). :func:`run_mirrormaker2` deploys MirrorSourceConnector,
MirrorCheckpointConnector and (optionally) MirrorHeartbeatConnector through the Connect REST API,
with IdentityReplicationPolicy so topic names stay the same on the target, waits until their tasks
run, reports their state and the replication lag, and removes them on request.

How a run goes (present):

1. ``GET /`` of the Connect URL (reachability, version) and ``GET /connector-plugins`` (the
   MirrorMaker 2 jars are installed). The worker's ``kafka_cluster_id`` must be the target's: a
   source connector writes its records into the Connect cluster's own Kafka cluster.
2. One ``GET /connectors?expand=info&expand=status`` reads the current config and status of every
   connector (one call for all, not one per connector).
3. The wanted configs are built (:func:`build_connector_configs`) and validated by the worker
   (``PUT /connector-plugins/<class>/config/validate``) before anything changes; a config the worker
   rejects fails the task with the worker's messages and nothing deployed.
4. ``PUT /connectors/<name>/config`` only for connectors whose config differs (the PUT replaces the
   whole config, so "differs" is exact equality); connectors of this prefix no longer wanted are
   deleted. Check mode stops before this step; the diff is the same.
5. With ``wait``, poll until each connector and its tasks are RUNNING with the new config (a failed
   task fails the task with its trace), then measure the lag from the offsets the source connector
   committed (``GET /connectors/<name>/offsets``) and the source's log end offsets.

Exactly-once: Connect supports exactly-once source connectors since Kafka 3.3 (KIP-618) when every
worker runs with ``exactly.once.source.support=enabled``; the source connector then asks for it with
``exactly.once.support=required`` and reads the source ``read_committed`` (MirrorSourceConnector only
supports exactly-once with a read_committed consumer). ``exactly_once: auto`` asks for it when the
worker accepts it and falls back with a warning otherwise.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import json
import re
import socket
import ssl
import time

from ansible_collections.kafkaops.migration.plugins.module_utils import lag as lag_rule
from ansible_collections.kafkaops.migration.plugins.module_utils.admin import (
    INTERNAL_TOPIC_PATTERNS,
    ClusterView,
    Selection,
    internal_kind,
    lag_status,
    reachable_end,
)
from ansible_collections.kafkaops.migration.plugins.module_utils.connection import KafkaOpsError, as_list
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline, poll

from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlsplit
from urllib.request import HTTPSHandler, Request, build_opener

MIRROR_PACKAGE = "org.apache.kafka.connect.mirror."
CONNECTOR_CLASSES = {
    "source": MIRROR_PACKAGE + "MirrorSourceConnector",
    "checkpoint": MIRROR_PACKAGE + "MirrorCheckpointConnector",
    "heartbeat": MIRROR_PACKAGE + "MirrorHeartbeatConnector",
}
KINDS = ("source", "checkpoint", "heartbeat")
IDENTITY_POLICY = MIRROR_PACKAGE + "IdentityReplicationPolicy"
BYTE_ARRAY_CONVERTER = "org.apache.kafka.connect.converters.ByteArrayConverter"
# The connector's topics.exclude: the collection's one internal-topic rule (admin.INTERNAL_TOPIC_PATTERNS,
# Java-compatible regexes matched against whole names, like Python's re.fullmatch), then the user's
# exclude patterns. It replaces MirrorSourceConnector's default (.*[-.]internal, .*\.replica, __.*), so
# the connector and the rest of the collection leave out the same topics.
TOPICS_EXCLUDE = tuple(INTERNAL_TOPIC_PATTERNS)
# What MirrorMaker 2 never replicates whatever topics.exclude says: ReplicationPolicy.isInternalTopic
# (names starting with "__" or ".", ending with ".internal" or "-internal"). A limit of the engine, not
# another internal-topic rule: such application topics are copied by the built-in engine only.
MM2_NEVER_REPLICATES = (r"__.*", r"\..*", r".*[.-]internal")
_MM2_NEVER = [re.compile(p) for p in MM2_NEVER_REPLICATES]
MASK = "********"
SECRET_KEY_RE = re.compile(r"(password|secret|jaas\.config|keystore\.key|credentials|token)", re.IGNORECASE)

# Suboptions of kafka_mirror's ``mirrormaker2`` dict option; documented in doc_fragments/mirrormaker2.py.
MM2_OPTION_SPEC = dict(
    connect_url=dict(type="str", required=True),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
    request_timeout=dict(type="float", default=10.0),
    connector_prefix=dict(type="str", default="kafkaops-mm2"),
    source_alias=dict(type="str", default="source"),
    target_alias=dict(type="str", default="target"),
    tasks_max=dict(type="int", default=4),
    exactly_once=dict(type="str", default="auto", choices=["auto", "required", "disabled"]),
    checkpoints=dict(type="bool", default=True),
    sync_group_offsets=dict(type="bool", default=True),
    groups=dict(type="list", elements="str", default=[".*"]),
    heartbeats=dict(type="bool", default=False),
    replication_factor=dict(type="int", default=-1),
    offset_syncs_location=dict(type="str", default="target", choices=["source", "target"]),
    sync_topic_configs=dict(type="bool", default=True),
    config=dict(type="dict", default={}),
    connector_config=dict(type="dict", default={}),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    wait=dict(type="bool", default=True),
)


# -- options --------------------------------------------------------------------------------------
def mm2_options(params):
    """The ``mirrormaker2`` options with defaults filled in and checked; raise KafkaOpsError."""
    raw = params.get("mirrormaker2")
    if not raw:
        raise KafkaOpsError("engine mirrormaker2 needs the mirrormaker2 option (at least mirrormaker2.connect_url)")
    opts = {}
    for key, spec in MM2_OPTION_SPEC.items():
        value = raw.get(key)
        opts[key] = copy.deepcopy(spec.get("default")) if value is None else value
    url = (opts["connect_url"] or "").strip().rstrip("/")
    parts = urlsplit(url) if url else None
    if not parts or parts.scheme not in ("http", "https") or not parts.netloc:
        raise KafkaOpsError("mirrormaker2.connect_url must be an http:// or https:// URL of the Kafka Connect REST API, got %r"
                            % opts["connect_url"])
    opts["connect_url"] = url
    for key in ("connector_prefix", "source_alias", "target_alias"):
        if not opts[key] or not re.match(r"^[A-Za-z0-9._-]+$", opts[key]):
            raise KafkaOpsError("mirrormaker2.%s must be made of letters, digits, '.', '_' and '-', got %r" % (key, opts[key]))
    if opts["source_alias"] == opts["target_alias"]:
        raise KafkaOpsError("mirrormaker2.source_alias and target_alias must differ")
    if int(opts["tasks_max"]) < 1:
        raise KafkaOpsError("mirrormaker2.tasks_max must be at least 1")
    rf = int(opts["replication_factor"])
    if rf == 0 or rf < -1:
        raise KafkaOpsError("mirrormaker2.replication_factor must be -1 (the target's default) or positive")
    if opts["request_timeout"] is None or float(opts["request_timeout"]) <= 0:
        raise KafkaOpsError("mirrormaker2.request_timeout must be positive")
    if opts["password"] is not None and not opts["username"]:
        raise KafkaOpsError("mirrormaker2.password needs mirrormaker2.username")
    if opts["exactly_once"] not in ("auto", "required", "disabled"):
        raise KafkaOpsError("mirrormaker2.exactly_once must be auto, required or disabled, got %r" % opts["exactly_once"])
    if opts["state"] not in ("present", "absent"):
        raise KafkaOpsError("mirrormaker2.state must be present or absent, got %r" % opts["state"])
    for key in ("config", "connector_config"):
        if not isinstance(opts[key], dict):
            raise KafkaOpsError("mirrormaker2.%s must be a dict" % key)
    unknown = sorted(set(opts["connector_config"]) - set(KINDS))
    if unknown:
        raise KafkaOpsError("mirrormaker2.connector_config keys must be among %s, got %s" % (", ".join(KINDS), ", ".join(unknown)))
    for kind, extra in opts["connector_config"].items():
        if extra is not None and not isinstance(extra, dict):
            raise KafkaOpsError("mirrormaker2.connector_config.%s must be a dict" % kind)
    for pattern in opts["groups"] or []:
        _check_pattern(pattern, "mirrormaker2.groups")
    return opts


def _check_pattern(pattern, what):
    if not pattern or "," in pattern:
        # MirrorMaker 2 reads these as a comma-separated list: a comma would split one regex in two.
        raise KafkaOpsError("%s: %r is not usable as a MirrorMaker 2 regex (empty or contains a comma)" % (what, pattern))
    try:
        re.compile(pattern)
    except re.error as exc:
        raise KafkaOpsError("%s: %r is not a valid regular expression: %s" % (what, pattern, exc))


def _selection_params(params):
    """``(names, include, exclude)`` from kafka_mirror's params: ``topics`` (exact names), ``include``
    and ``exclude`` (regexes, whole-name match; ``topic_patterns`` / ``exclude_patterns`` are their
    old names)."""
    names = [t for t in (params.get("topics") or []) if t]
    include = params.get("include")
    if include is None:
        include = params.get("topic_patterns")
    exclude = params.get("exclude")
    if exclude is None:
        exclude = params.get("exclude_patterns")
    return names, [p for p in (include or []) if p], [p for p in (exclude or []) if p]


def topic_selection(params):
    """``(names, patterns)`` from the module's ``topics`` / ``include``; raise when both are empty."""
    names, patterns, exclude = _selection_params(params)
    for pattern in exclude:
        _check_pattern(pattern, "exclude")
    if not names and not patterns:
        raise KafkaOpsError("mirrormaker2: give at least one topic in topics or include")
    for name in names:
        if not re.match(r"^[A-Za-z0-9._-]{1,249}$", name):
            raise KafkaOpsError("mirrormaker2: %r is not a valid Kafka topic name" % name)
    for pattern in patterns:
        _check_pattern(pattern, "include")
    return names, patterns


def exclude_patterns(params):
    """The user's exclude patterns (``exclude``, formerly ``exclude_patterns``)."""
    return _selection_params(params)[2]


def topics_regex_list(names, patterns):
    """The ``topics`` value: exact names as escaped regexes (``.`` only; the legal name characters
    are otherwise literal in Java regexes), then the patterns as given. MirrorMaker 2 matches each
    topic against the whole list (``Pattern.matches``, so anchoring is implicit)."""
    items = [n.replace(".", "\\.") for n in names] + list(patterns)
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return ",".join(out)


def never_replicated(name):
    """Why MirrorSourceConnector would not copy topic ``name`` (internal, or MM2's own limit), or None."""
    kind = internal_kind(name)
    if kind is not None:
        return "internal topic (%s)" % kind
    if any(p.fullmatch(name) for p in _MM2_NEVER):
        return "MirrorMaker 2 never replicates names starting with __ or . or ending with .internal or -internal"
    return None


def excluded_by_default(names):
    """Names MirrorSourceConnector would silently skip: internal topics and MM2's own limit."""
    return [n for n in names if never_replicated(n)]


# -- cluster options -> Java client properties ----------------------------------------------------
def _jaas_quote(value):
    return '"%s"' % str(value).replace("\\", "\\\\").replace('"', '\\"')


def jaas_config(mechanism, username, password):
    module = ("org.apache.kafka.common.security.plain.PlainLoginModule" if mechanism == "PLAIN"
              else "org.apache.kafka.common.security.scram.ScramLoginModule")
    return "%s required username=%s password=%s;" % (module, _jaas_quote(username), _jaas_quote(password))


def _read_pem(path, what, name):
    try:
        with open(path, "r") as fh:
            return fh.read().strip()
    except (IOError, OSError) as exc:
        raise KafkaOpsError("%s: cannot read %s %s: %s" % (name, what, path, exc))


def java_client_config(cluster, name="cluster", read_pem=_read_pem):
    """Java client properties (no prefix) for a cluster's module options.

    TLS files are read where the module runs and put inline as PEM (``ssl.truststore.certificates``,
    ``ssl.keystore.certificate.chain``, ``ssl.keystore.key``), because the Connect workers may not
    have them. The cluster's ``config`` holds librdkafka settings and is not carried over: Java
    client settings go into ``mirrormaker2.config`` with the ``source.cluster.`` /
    ``target.cluster.`` prefix.
    """
    servers = as_list(cluster.get("bootstrap_servers"))
    if not servers:
        raise KafkaOpsError("%s: bootstrap_servers is required" % name)
    proto = cluster.get("security_protocol") or "PLAINTEXT"
    conf = {"bootstrap.servers": ",".join(servers), "security.protocol": proto}
    if proto.startswith("SASL_"):
        mech = cluster.get("sasl_mechanism")
        if not mech or not cluster.get("sasl_username") or cluster.get("sasl_password") is None:
            raise KafkaOpsError("%s: security_protocol %s needs sasl_mechanism, sasl_username and sasl_password" % (name, proto))
        conf["sasl.mechanism"] = mech
        conf["sasl.jaas.config"] = jaas_config(mech, cluster["sasl_username"], cluster["sasl_password"])
    if proto in ("SSL", "SASL_SSL"):
        if cluster.get("ssl_ca_location"):
            conf["ssl.truststore.type"] = "PEM"
            conf["ssl.truststore.certificates"] = read_pem(cluster["ssl_ca_location"], "ssl_ca_location", name)
        if cluster.get("ssl_certificate_location") or cluster.get("ssl_key_location"):
            if not (cluster.get("ssl_certificate_location") and cluster.get("ssl_key_location")):
                raise KafkaOpsError("%s: ssl_certificate_location and ssl_key_location go together" % name)
            conf["ssl.keystore.type"] = "PEM"
            conf["ssl.keystore.certificate.chain"] = read_pem(cluster["ssl_certificate_location"], "ssl_certificate_location", name)
            conf["ssl.keystore.key"] = read_pem(cluster["ssl_key_location"], "ssl_key_location", name)
            if cluster.get("ssl_key_password"):
                conf["ssl.key.password"] = cluster["ssl_key_password"]
        if cluster.get("ssl_check_hostname", True) is False:
            conf["ssl.endpoint.identification.algorithm"] = ""
    return conf


def _stringify(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_stringify(v) for v in value)
    return "" if value is None else str(value)


def connector_names(opts):
    return dict((kind, "%s-%s" % (opts["connector_prefix"], kind)) for kind in KINDS)


def wanted_kinds(opts):
    kinds = ["source"]
    if opts["checkpoints"]:
        kinds.append("checkpoint")
    if opts["heartbeats"]:
        kinds.append("heartbeat")
    return kinds


def build_connector_configs(opts, source_params, target_params, names, patterns, exactly_once=True,
                            read_pem=_read_pem, exclude=None):
    """``{connector name: config}`` (every value a string, as Connect returns them) for the wanted connectors.

    ``exclude``: the module's ``exclude`` patterns; ``topics.exclude`` is the collection's internal-topic
    rule (:data:`TOPICS_EXCLUDE`) followed by them.
    """
    src = java_client_config(source_params, "source", read_pem)
    tgt = java_client_config(target_params, "target", read_pem)
    rf = str(int(opts["replication_factor"]))
    common = {
        "source.cluster.alias": opts["source_alias"],
        "target.cluster.alias": opts["target_alias"],
        "replication.policy.class": IDENTITY_POLICY,
        "key.converter": BYTE_ARRAY_CONVERTER,
        "value.converter": BYTE_ARRAY_CONVERTER,
        "header.converter": BYTE_ARRAY_CONVERTER,
        "offset-syncs.topic.location": opts["offset_syncs_location"],
        "tasks.max": str(int(opts["tasks_max"])),
    }
    for key, value in src.items():
        common["source.cluster." + key] = value
    for key, value in tgt.items():
        common["target.cluster." + key] = value
    per_kind = {
        "source": {
            "topics": topics_regex_list(names, patterns),
            "replication.factor": rf,
            "offset-syncs.topic.replication.factor": rf,
            "sync.topic.configs.enabled": _stringify(opts["sync_topic_configs"]),
            # ACLs are the collection's own step; the source may have no authorizer at all.
            "sync.topic.acls.enabled": "false",
            # Never copy records of aborted or open transactions (and the condition for exactly-once).
            "source.consumer.isolation.level": "read_committed",
        },
        "checkpoint": {
            "groups": ",".join(opts["groups"] or [".*"]),
            "emit.checkpoints.enabled": "true",
            "sync.group.offsets.enabled": _stringify(opts["sync_group_offsets"]),
            "checkpoints.topic.replication.factor": rf,
            "offset-syncs.topic.replication.factor": rf,
        },
        "heartbeat": {
            "emit.heartbeats.enabled": "true",
            "heartbeats.topic.replication.factor": rf,
            "tasks.max": "1",
        },
    }
    per_kind["source"]["topics.exclude"] = ",".join(list(TOPICS_EXCLUDE) + list(exclude or []))
    if exactly_once:
        per_kind["source"]["exactly.once.support"] = "required"
    out = {}
    connector = connector_names(opts)
    for kind in wanted_kinds(opts):
        conf = dict(common)
        conf.update(per_kind[kind])
        for extra in (opts["config"], (opts["connector_config"] or {}).get(kind) or {}):
            for key, value in extra.items():
                conf[str(key)] = _stringify(value)
        conf["connector.class"] = CONNECTOR_CLASSES[kind]
        conf["name"] = connector[kind]
        out[connector[kind]] = dict((k, _stringify(v)) for k, v in conf.items())
    return out


# -- secrets and diff -----------------------------------------------------------------------------
def is_secret(key):
    return bool(SECRET_KEY_RE.search(key))


def mask_config(conf, other=None):
    """A copy of a connector config fit for output: secret values replaced by a mask.

    With ``other`` (the config it is compared to), a secret that differs is shown as
    ``******** (changed)`` so a password change is visible in the diff without being shown.
    """
    if conf is None:
        return None
    out = {}
    for key, value in conf.items():
        if is_secret(key):
            changed = other is not None and key in other and other[key] != value
            out[key] = MASK + " (changed)" if changed else MASK
        else:
            out[key] = value
    return out


def plan_changes(current, desired, ours):
    """``{name: action}`` with action create / update / delete / none for each connector of ours."""
    plan = {}
    for name in ours:
        have = current.get(name)
        want = desired.get(name)
        if want is None:
            plan[name] = "delete" if have is not None else None
        elif have is None:
            plan[name] = "create"
        elif have.get("config") != want:
            plan[name] = "update"
        else:
            plan[name] = "none"
    return dict((k, v) for k, v in plan.items() if v is not None)


def make_diff(current, desired, plan):
    before, after = {}, {}
    for name, action in sorted(plan.items()):
        have = (current.get(name) or {}).get("config")
        want = desired.get(name)
        if have is not None:
            before[name] = mask_config(have)
        if want is not None:
            after[name] = mask_config(want, have)
    return {"before": before, "after": after}


# -- the Connect REST client ----------------------------------------------------------------------
class ConnectClient:
    """Kafka Connect REST calls with urllib: bounded, optional basic auth, errors naming the URL.

    Every request waits at most ``min(request_timeout, deadline.remaining())``. A 409 (the worker
    group is rebalancing), or a 500/503 saying a rebalance is expected, is retried until the deadline;
    other errors raise KafkaOpsError at once.
    """

    def __init__(self, url, username=None, password=None, validate_certs=True, ca_path=None,
                 request_timeout=10.0, deadline=None, sleep=time.sleep):
        self.url = url.rstrip("/")
        self.request_timeout = float(request_timeout)
        self.deadline = deadline or Deadline(None)
        self.sleep = sleep
        self.headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if username:
            token = base64.b64encode(("%s:%s" % (username, password or "")).encode("utf-8")).decode("ascii")
            self.headers["Authorization"] = "Basic " + token
        handlers = []
        if self.url.startswith("https://"):
            ctx = ssl.create_default_context(cafile=ca_path) if ca_path else ssl.create_default_context()
            if not validate_certs:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            handlers.append(HTTPSHandler(context=ctx))
        self.opener = build_opener(*handlers)

    def __str__(self):
        return "Kafka Connect at %s" % self.url

    def _timeout(self, what):
        remaining = self.deadline.remaining()
        limit = self.request_timeout
        if remaining is not None:
            if remaining <= 0:
                raise KafkaOpsError("%s: %s: the module timeout ran out" % (self, what), timed_out=True)
            limit = min(limit, remaining)
        return max(limit, 0.001)

    def request(self, method, path, body=None, ok=(200, 201, 202, 204)):
        """``(status, decoded JSON or None)``; statuses outside ``ok`` raise KafkaOpsError."""
        what = "%s %s" % (method, path)
        data = None if body is None else json.dumps(body).encode("utf-8")
        while True:
            timeout = self._timeout(what)
            req = Request(self.url + path, data=data, headers=self.headers)
            req.get_method = lambda m=method: m
            try:
                resp = self.opener.open(req, timeout=timeout)
                try:
                    status, raw = resp.getcode(), resp.read()
                finally:
                    resp.close()
            except HTTPError as exc:
                status, raw = exc.code, _read_error_body(exc)
            except (URLError, socket.timeout, ssl.SSLError, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", None) or exc
                if isinstance(reason, socket.timeout) or "timed out" in str(reason):
                    reason = "no answer within %.1fs" % timeout
                raise KafkaOpsError("%s: %s failed: %s" % (self, what, reason), connect_url=self.url)
            if status in ok:
                return status, _decode(raw)
            message = _error_message(raw) or "HTTP %d" % status
            remaining = self.deadline.remaining()
            retryable = status == 409 or (status in (500, 503) and "rebalanc" in message.lower())
            if retryable and (remaining is None or remaining > 1):
                # 409 "Cannot complete request momentarily due to stale configuration", 500 "Request cannot be
                # completed because a rebalance is expected": the worker group is rebalancing, ask again.
                self.sleep(1.0 if remaining is None else min(1.0, remaining - 1))
                continue
            raise KafkaOpsError("%s: %s failed: HTTP %d: %s" % (self, what, status, message),
                                connect_url=self.url, http_status=status)

    # -- endpoints ----------------------------------------------------------------------------------
    def server_info(self):
        return self.request("GET", "/")[1] or {}

    def plugins(self):
        return [p.get("class") for p in (self.request("GET", "/connector-plugins")[1] or [])]

    def connectors(self):
        """``{name: {"config": {...}, "status": {...}}}`` of every connector, in one call."""
        data = self.request("GET", "/connectors?expand=info&expand=status")[1] or {}
        out = {}
        for name, entry in data.items():
            out[name] = {"config": (entry.get("info") or {}).get("config"), "status": entry.get("status")}
        return out

    def validate(self, conf):
        path = "/connector-plugins/%s/config/validate" % quote(conf["connector.class"], safe="")
        result = self.request("PUT", path, conf)[1] or {}
        errors = {}
        for item in result.get("configs") or []:
            value = item.get("value") or {}
            if value.get("errors"):
                errors[value.get("name")] = value["errors"]
        return errors

    def put_config(self, name, conf):
        return self.request("PUT", "/connectors/%s/config" % quote(name, safe=""), conf)[1]

    def delete(self, name):
        self.request("DELETE", "/connectors/%s" % quote(name, safe=""), ok=(200, 202, 204, 404))

    def tasks(self, name):
        status, data = self.request("GET", "/connectors/%s/tasks" % quote(name, safe=""), ok=(200, 404))
        return data if status == 200 else None

    def offsets(self, name):
        """The source offsets a connector committed (Connect 3.5+, KIP-875), or None where unsupported."""
        status, data = self.request("GET", "/connectors/%s/offsets" % quote(name, safe=""), ok=(200, 404, 405))
        return (data or {}).get("offsets") if status == 200 else None


def _read_error_body(exc):
    try:
        return exc.read()
    except Exception:  # pragma: no cover - a broken error body is reported as the bare status
        return b""


def _decode(raw):
    if not raw:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except ValueError:
        return None


def _error_message(raw):
    data = _decode(raw)
    if isinstance(data, dict) and data.get("message"):
        return data["message"]
    if raw:
        text = raw.decode("utf-8", "replace").strip()
        return text[:300]
    return None


# -- status ---------------------------------------------------------------------------------------
def summarize_status(status, kind=None):
    """``{state, worker_id, tasks: [{id, state, worker_id, trace}]}`` from a Connect status entry."""
    if not status:
        return {"kind": kind, "state": "ABSENT", "worker_id": None, "tasks": []}
    conn = status.get("connector") or {}
    out = {
        "kind": kind,
        "state": conn.get("state"),
        "worker_id": conn.get("worker_id"),
        "tasks": [dict(id=t.get("id"), state=t.get("state"), worker_id=t.get("worker_id"),
                       trace=t.get("trace")) for t in sorted(status.get("tasks") or [], key=lambda t: t.get("id", 0))],
    }
    if conn.get("trace"):
        out["trace"] = conn["trace"]
    return out


def failure_of(name, summary):
    """A message when the connector or one of its tasks FAILED, else None."""
    if summary["state"] == "FAILED":
        return "connector %s FAILED: %s" % (name, _first_lines(summary.get("trace")))
    for task in summary["tasks"]:
        if task["state"] == "FAILED":
            return "connector %s task %s FAILED on %s: %s" % (name, task["id"], task["worker_id"], _first_lines(task["trace"]))
    return None


def _first_lines(trace, lines=6):
    if not trace:
        return "no trace"
    return "\n".join(trace.strip().splitlines()[:lines])


def is_running(summary, kind):
    """Connector and every task RUNNING; the source connector needs at least one task."""
    if summary["state"] != "RUNNING":
        return False
    if kind == "source" and not summary["tasks"]:
        return False
    return all(t["state"] == "RUNNING" for t in summary["tasks"])


def tasks_have_config(task_configs, desired, task_statuses=None):
    """Every task carries the wanted connector config (the reconfiguration reached the tasks).

    With ``task_statuses`` (the summary's tasks), the status must also list exactly the configured
    tasks: after a reconfiguration the task configs change first, the status of the old tasks later.
    """
    if task_configs is None:
        return False
    if task_statuses is not None:
        configured = sorted((t.get("id") or {}).get("task") for t in task_configs)
        if configured != sorted(t.get("id") for t in task_statuses):
            return False
    for task in task_configs:
        conf = task.get("config") or {}
        for key, value in desired.items():
            if key != "name" and conf.get(key) != value:
                return False
    return True


# -- lag ------------------------------------------------------------------------------------------
def committed_positions(offsets, source_alias):
    """``{(topic, partition): next offset}`` from ``GET /connectors/<source>/offsets`` entries.

    MirrorSourceTask stores the offset of the last record it wrote and resumes at offset + 1.
    """
    out = {}
    for entry in offsets or []:
        part, off = entry.get("partition") or {}, entry.get("offset") or {}
        if part.get("cluster") not in (None, source_alias) or off.get("offset") is None:
            continue
        out[(part.get("topic"), int(part.get("partition")))] = int(off["offset"]) + 1
    return out


def compute_lag(positions, earliest, latest, stable=None, facts=None):
    """Per-partition lag of the copy by the collection's one lag definition (:func:`admin.lag_status`).

    ``positions``: the next offset to copy per partition (None: nothing copied yet, so the log start);
    ``earliest`` / ``latest``: log start and log end offsets; ``stable``: last stable offsets (the
    connector reads ``read_committed``, so it can reach no further); ``facts``: what a probe proved
    (:class:`admin.ProbeFacts`), so trailing markers and aborted records count 0.
    """
    rows, total = [], 0
    stable = stable or {}
    for tp in sorted(latest):
        end = latest[tp]
        start = earliest.get(tp, 0)
        nxt = positions.get(tp)
        pos = start if nxt is None else max(nxt, start)
        free = facts.free_until(tp, pos) if facts is not None else None
        visible = facts.visible_from(tp, pos) if facts is not None else None
        status, lag, _probe_from = lag_status(pos, end, reachable_end(end, stable.get(tp), "read_committed"), free, visible)
        total += lag
        rows.append({"topic": tp[0], "partition": tp[1], "log_end_offset": end,
                     "next_offset": nxt, "lag": lag, "status": status})
    return {"total": total, "partitions": rows}


def select_topics(all_topics, names, patterns, exclude=()):
    """The source topics the source connector copies: exact ``names`` and the topics ``patterns``
    select (:class:`admin.Selection`, whole-name match, internal topics never), minus ``exclude``
    and what MirrorMaker 2 never replicates."""
    selection = Selection(list(patterns), list(exclude or ()))
    wanted = set(n for n in names if n in set(all_topics)) | set(selection.select(all_topics))
    return sorted(t for t in wanted if not never_replicated(t) and not any(re.fullmatch(p, t) for p in exclude or ()))


def measure_lag(client, source, connector, opts, names, patterns, exclude=()):
    """Lag of the source connector on the source, by the one lag definition (read_committed, with the
    bounded probe of :func:`lag.measure`), or None when the worker does not report offsets."""
    offsets = client.offsets(connector)
    if offsets is None:
        return None
    view = ClusterView(source)
    counts = view.topics()
    topics = select_topics(list(counts), names, patterns, exclude)
    keys = [(t, p) for t in topics for p in range(counts[t])]
    if not keys:
        return {"total": 0, "partitions": []}
    positions = committed_positions(offsets, opts["source_alias"])
    rows = lag_rule.measure(view, {connector: dict((k, positions.get(k)) for k in keys)}, "read_committed")[connector]
    errors = ["%s[%d]: %s" % (k[0], k[1], r["error"]) for k, r in sorted(rows.items()) if r.get("error")]
    if errors:
        raise KafkaOpsError("%s: list offsets failed for %s" % (source, ", ".join(errors)))
    parts = [{"topic": k[0], "partition": k[1], "log_end_offset": r["log_end"], "next_offset": positions.get(k),
              "lag": r["lag"], "status": r["status"]} for k, r in sorted(rows.items())]
    return {"total": sum(r["lag"] for r in parts), "partitions": parts}


# -- the engine -----------------------------------------------------------------------------------
def run_mirrormaker2(params, source, target, deadline, check_mode=False, client=None):
    """Deploy (or remove) the MirrorMaker 2 connectors; the result dict of kafka_mirror's mirrormaker2 engine.

    ``params``: the module's params (``mirrormaker2``, ``topics``, ``include`` / ``exclude`` (or their old
    names ``topic_patterns`` / ``exclude_patterns``), ``interval``).
    ``source`` / ``target``: connection.Cluster objects. Raises KafkaOpsError (with ``connectors`` and
    ``diff`` in its details when something was already changed).
    """
    started = time.monotonic()
    opts = mm2_options(params)
    deadline = deadline or Deadline(None)
    if client is None:
        client = ConnectClient(opts["connect_url"], opts["username"], opts["password"], opts["validate_certs"],
                               opts["ca_path"], opts["request_timeout"], deadline)
    interval = float(params.get("interval") or 2.0)
    names_by_kind = connector_names(opts)
    kind_of = dict((v, k) for k, v in names_by_kind.items())
    ours = [names_by_kind[k] for k in KINDS]
    result = {"changed": False, "engine": "mirrormaker2", "warnings": [], "lag": None, "exactly_once": False}

    info = client.server_info()
    result["connect"] = {"url": opts["connect_url"], "version": info.get("version"), "commit": info.get("commit"),
                         "kafka_cluster_id": info.get("kafka_cluster_id")}
    current = dict((n, c) for n, c in client.connectors().items() if n in ours)

    if opts["state"] == "absent":
        plan = plan_changes(current, {}, ours)
        result["diff"] = make_diff(current, {}, plan)
        result["changed"] = bool(plan)
        result["connectors"] = dict((n, dict(summarize_status(current[n]["status"], kind_of[n]), action=a))
                                    for n, a in plan.items())
        if plan and not check_mode:
            for name in sorted(plan):
                client.delete(name)
            if opts["wait"]:
                _wait_gone(client, list(plan), deadline, interval, result)
            for name in plan:
                result["connectors"][name]["state"] = "ABSENT"
                result["connectors"][name]["tasks"] = []
        result["duration"] = round(time.monotonic() - started, 3)
        return result

    names, patterns = topic_selection(params)
    exclude = exclude_patterns(params)
    skipped = excluded_by_default(names)
    if skipped:
        raise KafkaOpsError("mirrormaker2: MirrorSourceConnector never copies %s; nothing was changed"
                            % "; ".join("%s (%s)" % (n, never_replicated(n)) for n in skipped))
    installed = client.plugins()
    missing = [CONNECTOR_CLASSES[k] for k in wanted_kinds(opts) if CONNECTOR_CLASSES[k] not in installed]
    if missing:
        raise KafkaOpsError("%s has no %s plugin: install the connect-mirror jar on every worker"
                            % (client, ", ".join(missing)), connect_url=opts["connect_url"])
    target_id = target.describe()["cluster_id"]
    if info.get("kafka_cluster_id") and target_id and info["kafka_cluster_id"] != target_id:
        raise KafkaOpsError("%s writes to Kafka cluster %s, but the target cluster is %s: MirrorSourceConnector "
                            "produces into the Connect cluster's own Kafka cluster, so use a Connect cluster "
                            "of the target" % (client, info["kafka_cluster_id"], target_id))

    eos = opts["exactly_once"] != "disabled"
    desired = build_connector_configs(opts, source.params, target.params, names, patterns, exactly_once=eos,
                                      exclude=exclude)
    errors = _validate_all(client, desired)
    source_name = names_by_kind["source"]
    errors, fallback = exactly_once_outcome(errors, source_name, opts["exactly_once"])
    if fallback:
        result["warnings"].append("%s does not support exactly-once source connectors (%s); MirrorMaker 2 "
                                  "runs at-least-once: enable exactly.once.source.support on every worker"
                                  % (client, fallback))
        eos = False
        desired = build_connector_configs(opts, source.params, target.params, names, patterns, exactly_once=False,
                                          exclude=exclude)
        errors = dict((n, e) for n, e in _validate_all(client, desired).items() if e)
    if errors:
        raise KafkaOpsError("%s rejected the MirrorMaker 2 config, nothing was changed: %s" % (client, "; ".join(
            "%s: %s: %s" % (n, k, " ".join(v)) for n, e in sorted(errors.items()) for k, v in sorted(e.items()))),
            connect_url=opts["connect_url"])
    result["exactly_once"] = eos

    plan = plan_changes(current, desired, ours)
    result["diff"] = make_diff(current, desired, dict((n, a) for n, a in plan.items() if a != "none"))
    result["changed"] = any(a != "none" for a in plan.values())
    result["connectors"] = dict((n, dict(summarize_status((current.get(n) or {}).get("status"), kind_of[n]), action=a))
                                for n, a in plan.items())
    if check_mode:
        if source_name in current:
            _measure_lag_into(result, client, source, source_name, opts, names, patterns, exclude)
        result["duration"] = round(time.monotonic() - started, 3)
        return result

    for name in sorted(plan, key=lambda n: KINDS.index(kind_of[n])):
        if plan[name] in ("create", "update"):
            client.put_config(name, desired[name])
        elif plan[name] == "delete":
            client.delete(name)
    wanted = dict((n, desired[n]) for n in desired)
    if opts["wait"]:
        _wait_running(client, wanted, kind_of, deadline, interval, result, float(params.get("stable_for") or 0))
    else:
        _refresh_status(client, wanted, kind_of, result)
    for name, action in plan.items():
        if action == "delete":
            result["connectors"][name].update(state="ABSENT", tasks=[])
    _measure_lag_into(result, client, source, source_name, opts, names, patterns, exclude)
    result["duration"] = round(time.monotonic() - started, 3)
    return result


def _measure_lag_into(result, client, source, source_name, opts, names, patterns, exclude):
    """The lag is a report, not the goal: when it cannot be measured, say why in a warning."""
    try:
        result["lag"] = measure_lag(client, source, source_name, opts, names, patterns, exclude)
    except KafkaOpsError as exc:
        result["warnings"].append("lag not measured: %s" % exc.msg)


def exactly_once_outcome(errors, source_name, mode):
    """``(errors, fallback)`` after validation: with ``auto``, errors on ``exactly.once.support`` alone mean
    "fall back to at-least-once" (``fallback`` is their text); otherwise they stay errors, with a hint.
    Connectors without errors are dropped from ``errors``."""
    errors = dict((n, dict(e)) for n, e in errors.items() if e)
    eos_errors = (errors.get(source_name) or {}).pop("exactly.once.support", None)
    if eos_errors and mode == "auto":
        return dict((n, e) for n, e in errors.items() if e), "; ".join(eos_errors)
    if eos_errors:
        errors[source_name]["exactly.once.support"] = list(eos_errors) + [
            "(set exactly.once.source.support=enabled on every worker, or mirrormaker2.exactly_once to auto or disabled)"]
    return dict((n, e) for n, e in errors.items() if e), None


def _validate_all(client, desired):
    return dict((name, client.validate(conf)) for name, conf in desired.items())


def _refresh_status(client, wanted, kind_of, result):
    statuses = client.connectors()
    for name in wanted:
        summary = summarize_status((statuses.get(name) or {}).get("status"), kind_of[name])
        result["connectors"][name].update(summary)
    return statuses


def _wait_running(client, wanted, kind_of, deadline, interval, result, stable_for=0.0):
    """Poll until every wanted connector and its tasks run the wanted config (without interruption for
    ``stable_for`` seconds, which catches tasks that fail soon after they start); fail on FAILED or timeout."""
    since, pending, stable_note = None, list(wanted), None
    for elapsed in poll(interval, deadline):
        try:
            _refresh_status(client, wanted, kind_of, result)
        except KafkaOpsError as exc:
            if exc.details.get("timed_out"):
                break
            raise
        pending = []
        for name in wanted:
            summary = result["connectors"][name]
            failure = failure_of(name, summary)
            if failure:
                raise KafkaOpsError("%s: %s" % (client, failure), connectors=result["connectors"],
                                    diff=result.get("diff"), changed=result["changed"])
            if not is_running(summary, kind_of[name]):
                pending.append(name)
            elif summary["tasks"] and not tasks_have_config(_safe_tasks(client, name, deadline), wanted[name],
                                                            summary["tasks"]):
                pending.append(name)
        stable_note = None
        if not pending:
            since = elapsed if since is None else since
            if elapsed - since >= stable_for:
                return
            stable_note = "all RUNNING for %.1fs of stable_for %.1fs" % (elapsed - since, stable_for)
        else:
            since = None
    if stable_note:
        what = stable_note
    else:
        what = ", ".join("%s (%s, tasks %s)" % (n, result["connectors"][n]["state"], ", ".join(
            "%s:%s" % (t["id"], t["state"]) for t in result["connectors"][n]["tasks"]) or "none")
            for n in sorted(pending or wanted))
    raise KafkaOpsError("%s: connectors not running before the timeout: %s" % (client, what),
                        connectors=result["connectors"], diff=result.get("diff"), changed=result["changed"],
                        timed_out=True)


def _safe_tasks(client, name, deadline):
    remaining = deadline.remaining()
    if remaining is not None and remaining <= 0:
        return None
    return client.tasks(name)


def _wait_gone(client, names, deadline, interval, result):
    for _elapsed in poll(min(interval, 1.0), deadline):
        try:
            left = [n for n in names if n in client.connectors()]
        except KafkaOpsError as exc:
            if exc.details.get("timed_out"):
                break
            raise
        if not left:
            return
    raise KafkaOpsError("%s: connectors still listed after deletion: %s" % (client, ", ".join(sorted(names))),
                        connectors=result["connectors"], diff=result.get("diff"), changed=True, timed_out=True)
