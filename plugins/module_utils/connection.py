# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cluster options -> confluent-kafka Admin, Consumer and Producer clients.

Plain Python (no AnsibleModule here), so the logic is unit-testable without Ansible. Every call
that talks to Kafka goes through :class:`Cluster`, which bounds it by the cluster's
``request_timeout`` and by the module's overall deadline, and turns librdkafka errors into a
:class:`KafkaOpsError` whose message names the cluster and the cause (wrong address, wrong password,
TLS failure) instead of hanging.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import logging
import re
import threading
import traceback

from ansible_collections.kafkaops.migration.plugins.module_utils.errors import KafkaOpsError  # noqa: F401 (re-exported)
from ansible_collections.kafkaops.migration.plugins.module_utils.alibaba import ALIBABA_OPTION_SPEC, APIS, AlibabaApi
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline

try:
    from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
    from confluent_kafka.admin import AdminClient
    HAS_CONFLUENT_KAFKA = True
    CONFLUENT_KAFKA_IMPORT_ERROR = None
except ImportError:
    HAS_CONFLUENT_KAFKA = False
    CONFLUENT_KAFKA_IMPORT_ERROR = traceback.format_exc()

SECURITY_PROTOCOLS = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SASL_MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

# Option names of a cluster dict; the Ansible argument spec is built from this (see args.py).
CLUSTER_OPTION_SPEC = dict(
    bootstrap_servers=dict(type="list", elements="str", required=True),
    security_protocol=dict(type="str", default="PLAINTEXT", choices=SECURITY_PROTOCOLS),
    sasl_mechanism=dict(type="str", choices=SASL_MECHANISMS),
    sasl_username=dict(type="str"),
    sasl_password=dict(type="str", no_log=True),
    ssl_ca_location=dict(type="path"),
    ssl_certificate_location=dict(type="path"),
    ssl_key_location=dict(type="path"),
    ssl_key_password=dict(type="str", no_log=True),
    ssl_check_hostname=dict(type="bool", default=True),
    request_timeout=dict(type="float", default=10.0),
    config=dict(type="dict", default={}),
    # how the cluster's topics and groups are managed: the Kafka admin protocol, or a vendor API
    # (Alibaba Cloud ApsaraMQ for Kafka's OpenAPI, module_utils/alibaba.py); records always go over Kafka
    api=dict(type="str", default="kafka", choices=list(APIS)),
    alibaba=dict(type="dict", options=ALIBABA_OPTION_SPEC),
)

# librdkafka keys whose values must never be echoed back in messages or results.
SECRET_KEYS = ("sasl.password", "ssl.key.password", "ssl.keystore.password", "sasl.oauthbearer.client.secret")

# Client settings a module relies on for correctness: a user's ``config`` never overrides these in the
# consumers and producers the modules build (it does override every other default, e.g. linger.ms).
PROTECTED_CLIENT_KEYS = frozenset((
    "group.id", "enable.auto.commit", "enable.auto.offset.store", "auto.offset.reset", "isolation.level",
    "enable.partition.eof", "transactional.id", "enable.idempotence", "acks", "error_cb", "log_level",
))

# Errors worth naming when a call times out: they say *why* nothing answered.
_CAUSE_CODES = ("_AUTHENTICATION", "_TRANSPORT", "_ALL_BROKERS_DOWN", "_SSL", "_RESOLVE", "SASL_AUTHENTICATION_FAILED",
                "_INVALID_ARG", "TOPIC_AUTHORIZATION_FAILED", "CLUSTER_AUTHORIZATION_FAILED")


# What librdkafka says when the client's security_protocol (or mechanism, or trust) does not fit the
# listener, and what to tell the user: (pattern over the collected error and log texts, protocols it
# applies to, hint). The first match wins.
_PROTOCOL_HINTS = (
    (r"connecting to a PLAINTEXT broker listener|SSL connection closed by peer.*SSL_HANDSHAKE|wrong version number",
     ("SSL", "SASL_SSL"), "the listener does not speak TLS, but security_protocol is {proto} (try PLAINTEXT or SASL_PLAINTEXT)"),
    (r"connecting to a SSL listener|incorrect security\.protocol",
     ("PLAINTEXT", "SASL_PLAINTEXT"), "the listener probably expects TLS, but security_protocol is {proto} "
                                      "(try SSL or SASL_SSL, with ssl_ca_location)"),
    (r"connection closed by peer.*in state UP",
     ("PLAINTEXT", "SSL"), "the brokers answered the first request and then closed the connection: the listener probably "
                           "expects SASL authentication, but security_protocol is {proto} (try SASL_PLAINTEXT or SASL_SSL "
                           "with sasl_mechanism, sasl_username and sasl_password)"),
    (r"Request not valid in current SASL state|Unexpected Kafka request of type SASL",
     ("SASL_PLAINTEXT", "SASL_SSL"), "the listener does not take SASL, but security_protocol is {proto} (try PLAINTEXT or SSL)"),
    (r"Unsupported SASL mechanism",
     ("SASL_PLAINTEXT", "SASL_SSL"), "the listener does not take sasl_mechanism {mechanism} (the broker names the ones it takes)"),
    (r"hostname mismatch|[Hh]ostname verification|does not match|subject alt",
     ("SSL", "SASL_SSL"), "the broker's certificate does not name the host in bootstrap_servers: connect by a name its "
                          "certificate holds (its SAN), or set ssl_check_hostname: false"),
    (r"certificate verify failed|unable to get local issuer|self.signed certificate|unknown ca",
     ("SSL", "SASL_SSL"), "the broker's certificate is not signed by a CA this client trusts: give ssl_ca_location, the CA "
                          "that signed the brokers' certificates"),
    (r"ssl/tls alert handshake failure|certificate required|alert bad certificate|peer did not return a certificate",
     ("SSL", "SASL_SSL"), "the listener requires a client certificate (mutual TLS): give ssl_certificate_location and "
                          "ssl_key_location"),
)


def protocol_hint(params, texts):
    """What to tell the user when ``texts`` (librdkafka's errors and logs) show that ``params``'
    security_protocol, mechanism or trust does not fit the listener; None when nothing does."""
    proto = params.get("security_protocol") or "PLAINTEXT"
    joined = "\n".join(t for t in texts if t)
    for pattern, protos, hint in _PROTOCOL_HINTS:
        if proto in protos and re.search(pattern, joined, re.IGNORECASE):
            return hint.format(proto=proto, mechanism=params.get("sasl_mechanism"))
    return None


class _FailLog(logging.Handler):
    """Keeps librdkafka's connection failures (its ``FAIL`` log lines), which error_cb does not always get."""

    def __init__(self, sink, lock):
        logging.Handler.__init__(self, logging.INFO)
        self.sink = sink
        self.sink_lock = lock  # not ``self.lock``: logging.Handler.handle() holds that one around emit()

    def emit(self, record):
        try:
            text = record.getMessage()
        except Exception:  # pylint: disable=broad-except
            return
        if "FAIL" in text[:8] or record.levelno >= logging.ERROR:
            with self.sink_lock:
                self.sink.append(text)
                del self.sink[:-20]


def as_list(value):
    """Items of a list or comma-separated string (nested lists flattened), stripped, empties dropped."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    out = []
    for v in value:
        out.extend(as_list(v))
    return out


def validate_cluster_params(params, name="cluster"):
    """Check a cluster dict beyond what the argument spec can say; raise KafkaOpsError."""
    if not isinstance(params, dict):
        raise KafkaOpsError("%s: cluster options must be a dict" % name)
    servers = as_list(params.get("bootstrap_servers"))
    if not servers:
        raise KafkaOpsError("%s: bootstrap_servers is required" % name)
    for s in servers:
        host, sep, port = s.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise KafkaOpsError("%s: bootstrap server %r is not host:port" % (name, s))
    proto = params.get("security_protocol") or "PLAINTEXT"
    if proto not in SECURITY_PROTOCOLS:
        raise KafkaOpsError("%s: security_protocol must be one of %s, got %r" % (name, ", ".join(SECURITY_PROTOCOLS), proto))
    if proto.startswith("SASL_"):
        mech = params.get("sasl_mechanism")
        if not mech:
            raise KafkaOpsError("%s: security_protocol %s needs sasl_mechanism" % (name, proto))
        if mech not in SASL_MECHANISMS:
            raise KafkaOpsError("%s: sasl_mechanism must be one of %s, got %r" % (name, ", ".join(SASL_MECHANISMS), mech))
        if not params.get("sasl_username") or params.get("sasl_password") is None:
            raise KafkaOpsError("%s: sasl_mechanism %s needs sasl_username and sasl_password" % (name, mech))
    timeout = params.get("request_timeout")
    if timeout is not None and float(timeout) <= 0:
        raise KafkaOpsError("%s: request_timeout must be positive" % name)
    extra = params.get("config") or {}
    if not isinstance(extra, dict):
        raise KafkaOpsError("%s: config must be a dict of librdkafka settings" % name)
    api = params.get("api") or "kafka"
    if api not in APIS:
        raise KafkaOpsError("%s: api must be one of %s, got %r" % (name, ", ".join(APIS), api))
    if api == "alibaba" and not (params.get("alibaba") or {}).get("region_id"):
        raise KafkaOpsError("%s: api alibaba needs the alibaba options (at least alibaba.region_id and alibaba.instance_id)" % name)
    return servers


def librdkafka_config(params, name="cluster"):
    """The librdkafka configuration dict for a cluster's options (secrets included: never log it)."""
    conf = librdkafka_connection(params, name)
    conf["client.id"] = "kafkaops-migration-%s" % name
    for key, value in (params.get("config") or {}).items():
        conf[str(key)] = value if isinstance(value, (str, int, float, bool)) else str(value)
    return conf


def librdkafka_connection(params, name="cluster"):
    """The librdkafka connection keys of a cluster's options alone: servers, protocol, SASL, TLS (secrets
    included). The modules' clients add their own settings; kafka_client_config writes these into an
    application's file."""
    servers = validate_cluster_params(params, name)
    proto = params.get("security_protocol") or "PLAINTEXT"
    conf = {
        "bootstrap.servers": ",".join(servers),
        "security.protocol": proto,
    }
    if proto.startswith("SASL_"):
        conf["sasl.mechanism"] = params["sasl_mechanism"]
        conf["sasl.username"] = params["sasl_username"]
        conf["sasl.password"] = params["sasl_password"]
    if proto in ("SSL", "SASL_SSL"):
        for opt, key in (("ssl_ca_location", "ssl.ca.location"),
                         ("ssl_certificate_location", "ssl.certificate.location"),
                         ("ssl_key_location", "ssl.key.location"),
                         ("ssl_key_password", "ssl.key.password")):
            if params.get(opt):
                conf[key] = params[opt]
        if params.get("ssl_check_hostname", True) is False:
            conf["ssl.endpoint.identification.algorithm"] = "none"
    return conf


def redact(conf):
    """A copy of a librdkafka config fit for messages: secret values replaced."""
    return dict((k, "********" if k in SECRET_KEYS else v) for k, v in conf.items())


class Cluster:
    """One Kafka cluster: lazily built clients, bounded calls, errors that name the cluster.

    ``name`` ("source", "target", "cluster") appears in every error message. ``deadline`` is the
    module's overall :class:`Deadline`; each call waits at most ``min(request_timeout, remaining)``.
    """

    def __init__(self, params, name="cluster", deadline=None):
        if not HAS_CONFLUENT_KAFKA:
            raise KafkaOpsError("the confluent-kafka Python library is required", exception=CONFLUENT_KAFKA_IMPORT_ERROR)
        self.name = name
        self.params = params
        self.base_config = librdkafka_config(params, name)
        self.request_timeout = float(params.get("request_timeout") or 10.0)
        self.deadline = deadline or Deadline(None)
        self._admin = None
        self._errors = []
        self._logs = []
        self._lock = threading.Lock()
        self._logger = logging.Logger("kafkaops.migration.%s" % name)
        self._logger.propagate = False
        self._logger.addHandler(_FailLog(self._logs, self._lock))
        self.api = params.get("api") or "kafka"
        self._alibaba = None

    @property
    def alibaba(self):
        """The :class:`alibaba.AlibabaApi` of a cluster with ``api: alibaba`` (None for a Kafka-managed one)."""
        if self.api != "alibaba":
            return None
        if self._alibaba is None:
            self._alibaba = AlibabaApi(self.params.get("alibaba") or {}, name=self.name, deadline=self.deadline)
        return self._alibaba

    # -- naming and error capture --------------------------------------------------------------
    def __str__(self):
        what = "cluster" if self.name == "cluster" else "%s cluster" % self.name
        return "%s (%s)" % (what, self.base_config["bootstrap.servers"])

    def _error_cb(self, err):
        with self._lock:
            self._errors.append(err)
            del self._errors[:-20]

    def last_cause(self):
        """The most telling error librdkafka reported in the background, as text (or None)."""
        if self._admin is not None:
            self._admin.poll(0)  # error callbacks are served from poll()
        with self._lock:
            errors = list(self._errors)
            logs = list(self._logs)
        for code in _CAUSE_CODES:
            for err in reversed(errors):
                if err.name() == code and not err.str().endswith("brokers are down"):
                    return err.str()
        if logs:  # "0/2 brokers are down" says less than the line that says why each one went down
            line = logs[-1]
            return line.split("]: ", 1)[-1] if "]: " in line else line
        return errors[-1].str() if errors else None

    def hint(self):
        """A protocol, mechanism or trust mismatch seen in librdkafka's errors and logs, as advice (or None)."""
        with self._lock:
            texts = [e.str() for e in self._errors] + list(self._logs)
        return protocol_hint(self.params, texts)

    def client_config(self, **overrides):
        conf = dict(self.base_config)
        conf["error_cb"] = self._error_cb
        # errors reach us through error_cb, connection failures through the logger (kept in memory, never
        # printed): librdkafka stays quiet on stderr
        conf["logger"] = self._logger
        conf["log_level"] = 6
        conf.update(overrides)
        return conf

    # -- clients ---------------------------------------------------------------------------------
    @property
    def admin(self):
        if self._admin is None:
            self._admin = AdminClient(self.client_config())
        return self._admin

    def consumer(self, group_id=None, **overrides):
        conf = {
            "group.id": group_id or "kafkaops-migration-%s-reader" % self.name,
            "enable.auto.commit": False,
            "enable.partition.eof": False,
            "auto.offset.reset": "error",
            "session.timeout.ms": 10000,
        }
        conf.update(overrides)
        return Consumer(self._tunable(conf))

    def producer(self, **overrides):
        conf = {"enable.idempotence": True, "acks": "all", "linger.ms": 5}
        conf.update(overrides)
        return Producer(self._tunable(conf))

    def _tunable(self, conf):
        """The module's client settings, then the user's ``config`` for every key not protected."""
        tuned = self.client_config(**conf)
        for key in self.params.get("config") or {}:
            if key not in PROTECTED_CLIENT_KEYS:
                tuned[key] = self.base_config[key]
        return tuned

    # -- bounded waiting -------------------------------------------------------------------------
    def timeout(self, cap=None):
        """Seconds the next call may wait: request_timeout (or cap), never past the deadline."""
        limit = self.request_timeout if cap is None else cap
        remaining = self.deadline.remaining()
        if remaining is not None:
            if remaining <= 0:
                raise KafkaOpsError("%s: the module timeout ran out" % self, timed_out=True)
            limit = min(limit, remaining)
        return max(limit, 0.001)

    def fail(self, what, exc):
        """A KafkaOpsError for a failed call ``what``, with the background cause when it timed out."""
        text = _error_text(exc)
        cause = self.last_cause()
        if cause and cause not in text:
            text = "%s (cause: %s)" % (text, cause)
        hint = self.hint()
        if hint:
            text = "%s; %s" % (text, hint)
        return KafkaOpsError("%s: %s failed: %s" % (self, what, text))

    def result(self, future, what, timeout=None):
        """Wait for one future within the bound; raise KafkaOpsError naming the cluster and call."""
        try:
            return future.result(timeout=self.timeout(timeout))
        except KafkaOpsError:
            raise
        except Exception as exc:  # concurrent.futures.TimeoutError, KafkaException, ...
            raise self.fail(what, exc)

    def results(self, futures, what, timeout=None):
        """Wait for a dict of futures (one batch call); return ``(ok, errors)`` dicts.

        Per-item failures are collected, not raised, so one bad item never hides the others. A
        batch that does not answer at all (unreachable cluster) raises KafkaOpsError.
        """
        ok, errors = {}, {}
        limit = self.timeout(timeout)
        deadline = Deadline(limit)
        for key, fut in futures.items():
            try:
                ok[key] = fut.result(timeout=max(deadline.remaining(), 0.001))
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                if isinstance(err, KafkaError) and err.code() in (KafkaError._TIMED_OUT, KafkaError._TRANSPORT) and not ok:
                    raise self.fail(what, exc)
                errors[key] = _error_text(exc)
            except Exception as exc:  # timeout of the future itself
                if type(exc).__name__ == "TimeoutError" and not ok:
                    raise self.fail(what, exc)
                errors[key] = _error_text(exc)
        return ok, errors

    def request_kwargs(self, timeout=None):
        """``request_timeout`` / ``operation_timeout`` kwargs for AdminClient calls."""
        t = self.timeout(timeout)
        return {"request_timeout": t}

    # -- the first call every module makes ------------------------------------------------------
    def describe(self, timeout=None):
        """Cluster id, controller and brokers; the reachability and credentials check."""
        t = self.timeout(timeout)
        try:
            fut = self.admin.describe_cluster(request_timeout=t)
        except Exception as exc:
            raise self.fail("describe cluster", exc)
        desc = self.result(fut, "describe cluster", timeout=t + 1)
        controller = desc.controller
        return {
            "cluster_id": desc.cluster_id,
            "controller_id": controller.id if controller is not None else None,
            "brokers": sorted(
                [{"id": n.id, "host": n.host, "port": n.port, "rack": n.rack} for n in desc.nodes],
                key=lambda b: b["id"]),
        }


def _error_text(exc):
    if HAS_CONFLUENT_KAFKA and isinstance(exc, KafkaException) and exc.args:
        err = exc.args[0]
        if isinstance(err, KafkaError):
            return "%s: %s" % (err.name(), err.str())
    text = str(exc)
    if not text:
        text = "no answer within the timeout" if type(exc).__name__ == "TimeoutError" else type(exc).__name__
    return text
