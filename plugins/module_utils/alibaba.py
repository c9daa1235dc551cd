# -*- coding: utf-8 -*-
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Alibaba Cloud Message Queue for Apache Kafka (ApsaraMQ for Kafka) as a target, through its OpenAPI.

Plain Python, no AnsibleModule. On that service topics and consumer groups are created through the
OpenAPI (version 2019-09-16, the console's own calls), not through the Kafka admin protocol, and an
instance is bought and deployed through it. What goes where:

========================  =============================================  =====================================
What                      Call                                           Why there
========================  =============================================  =====================================
find / buy / deploy       GetInstanceList, CreatePostPayInstance,        only the API can
                          StartInstance
list / create topics      GetTopicList, CreateTopic, ModifyPartitionNum  the service's topics are its resources
                                                                         (remark, storage engine, quotas)
list / create groups      GetConsumerList, CreateConsumerGroup           groups must exist before they commit
                                                                         (unless flexible group creation is on)
records (copy, apps)      Kafka protocol to the instance's endpoint      the service is Kafka on the wire
group offsets             Kafka protocol (OffsetCommit via               exact per partition, batched, the same
                          AlterConsumerGroupOffsets)                     never-rewind checks as any target;
                                                                         UpdateConsumerOffset resets one topic
                                                                         of one group per call
========================  =============================================  =====================================

Every call goes through :class:`AlibabaApi`: a client-side rate limit (``rate_limit`` calls per second,
default 1: the API reference has said "1 call per second per account" for CreateTopic and later 20),
throttling answers retried with back-off until the module's deadline, and errors that name the instance,
the call and the service's code. Secrets (the access key secret, an STS token) are never part of a
message.

Names: the service accepts fewer topic and group names than Kafka does. :func:`name_problem` is the
rule; :class:`TopicNames` (the rename map with its default rule) says which target name each source
topic gets, for every step alike (topic sync, the copy, group sync, the application configs).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import threading
import time
import traceback

from ansible_collections.kafkaops.migration.plugins.module_utils import offsetmap
from ansible_collections.kafkaops.migration.plugins.module_utils.errors import KafkaOpsError
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline

try:
    from alibabacloud_alikafka20190916 import models as ali_models
    from alibabacloud_alikafka20190916.client import Client as AlikafkaClient
    from alibabacloud_tea_openapi import utils_models as openapi_models
    from darabonba.runtime import RuntimeOptions
    HAS_ALIKAFKA_SDK = True
    ALIKAFKA_IMPORT_ERROR = None
except ImportError:
    HAS_ALIKAFKA_SDK = False
    ALIKAFKA_IMPORT_ERROR = traceback.format_exc()

APIS = ("kafka", "alibaba")
NAME_RULES = ("strict", "dotted")
DEFAULT_NAME_RULE = "strict"
STORAGES = ("cloud", "local")

# The target dict's ``alibaba`` suboptions (documented in doc_fragments/connection.py).
ALIBABA_OPTION_SPEC = dict(
    region_id=dict(type="str", required=True),
    instance_id=dict(type="str"),
    endpoint=dict(type="str"),
    protocol=dict(type="str", default="https", choices=["https", "http"]),
    access_key_id=dict(type="str", no_log=False),
    access_key_secret=dict(type="str", no_log=True),
    security_token=dict(type="str", no_log=True),
    rate_limit=dict(type="float", default=1.0),
    name_rule=dict(type="str", default="strict", choices=list(NAME_RULES)),
    topic_storage=dict(type="str", default="cloud", choices=list(STORAGES)),
    request_timeout=dict(type="float", default=10.0),
)

# GetInstanceList ServiceStatus (API reference, GetInstanceList): 0 to be deployed, 1 deploying,
# 5 running, 15 expired.
STATUS_NAMES = {0: "to be deployed", 1: "deploying", 5: "running", 15: "expired"}
RUNNING = 5
# Partitions per topic (CreateTopic / ModifyPartitionNum docstrings of SDK 2.16.0: 1 to 360).
MIN_PARTITIONS, MAX_PARTITIONS = 1, 360
NAME_MIN, NAME_MAX = 3, 64
# Topic configs CreateTopic's Config accepts (local storage only), with their ranges (SDK 2.16.0).
LOCAL_CONFIGS = {
    "retention.ms": (3600000, 31536000000),
    "max.message.bytes": (1048576, 10485760),
    "message.timestamp.type": ("CreateTime", "LogAppendTime"),
}
_STRICT = re.compile(r"[A-Za-z0-9_-]+")
_DOTTED = re.compile(r"[A-Za-z0-9._-]+")
_NOT_STRICT = re.compile(r"[^A-Za-z0-9_-]")
_NOT_DOTTED = re.compile(r"[^A-Za-z0-9._-]")
THROTTLING_CODES = ("Throttling", "Throttling.User", "Throttling.Api", "Throttling.Api.Forbidden")
PAGE_SIZE = 100


class AlibabaError(KafkaOpsError):
    """A failed OpenAPI call or bad Alibaba option; ``msg`` is fit for fail_json and holds no secret."""

    def __init__(self, msg, code=None, action=None, **details):
        super(AlibabaError, self).__init__(msg, **details)
        self.code = code
        self.action = action


# -- names -----------------------------------------------------------------------------------------

def name_problem(name, rule="strict", what="topic"):
    """Why the service refuses ``name`` as a topic or group name (None when it accepts it).

    ``strict``: letters, digits, ``-`` and ``_`` (the API reference's CreateTopic rule); ``dotted``:
    also ``.`` (the SDK 2.16.0 docstring for reserved instances). 3 to 64 characters either way; the
    service truncates longer names, which this collection never lets happen (two long names could
    become one).
    """
    if len(name) < NAME_MIN:
        return "%s name %r is shorter than %d characters" % (what, name, NAME_MIN)
    if len(name) > NAME_MAX:
        return "%s name %r is longer than %d characters (the service would truncate it)" % (what, name, NAME_MAX)
    pattern = _DOTTED if rule == "dotted" else _STRICT
    if not pattern.fullmatch(name):
        allowed = "letters, digits, '.', '-' and '_'" if rule == "dotted" else "letters, digits, '-' and '_'"
        return "%s name %r has characters the service refuses (only %s)" % (what, name, allowed)
    return None


def default_rename(name, rule="strict"):
    """The documented default rule: every character the service refuses becomes ``_``."""
    return (_NOT_DOTTED if rule == "dotted" else _NOT_STRICT).sub("_", name)


RENAME_RULES = ("underscore", "refuse")


class TopicNames:
    """Which target topic each source topic gets, the same for every step.

    ``rename``: the user's ``{source topic: target topic}`` map, applied first. ``rule``: what happens to
    a name the map does not cover and the target refuses: ``underscore`` (default) replaces each refused
    character by ``_`` (``orders.v1`` -> ``orders_v1``), ``refuse`` leaves it to :meth:`problems`.
    ``name_rule``: the target's rule (``None``: a Kafka target, which accepts every source name).
    ``prefix`` / ``suffix`` wrap the result (backup topics of the copy).
    """

    def __init__(self, rename=None, rule="underscore", name_rule=None, prefix="", suffix=""):
        self.rename = dict((str(k), str(v)) for k, v in (rename or {}).items())
        if rule not in RENAME_RULES:
            raise ValueError("rename_rule must be one of %s, got %r" % (", ".join(RENAME_RULES), rule))
        self.rule = rule
        self.name_rule = name_rule
        self.prefix, self.suffix = prefix or "", suffix or ""

    @classmethod
    def of(cls, target=None, rename=None, rule="underscore", prefix="", suffix=""):
        """The names of every step for ``target`` (:func:`name_rule_of`): ``rename`` validated
        (:func:`validate_rename`), ``rule`` checked; bad input raises :class:`AlibabaError`."""
        try:
            return cls(validate_rename(rename), rule or "underscore", name_rule_of(target), prefix, suffix)
        except ValueError as exc:
            raise AlibabaError(str(exc))

    @property
    def active(self):
        return bool(self.rename) or self.name_rule is not None

    def base(self, name):
        """The target name before prefix / suffix."""
        if name in self.rename:
            return self.rename[name]
        if self.name_rule is not None and self.rule == "underscore":
            return default_rename(name, self.name_rule)
        return name

    def target(self, name):
        return "%s%s%s" % (self.prefix, self.base(name), self.suffix)

    def mapping(self, names):
        return dict((n, self.target(n)) for n in names)

    def renamed(self, names):
        """``{source: target}`` of the names that change (prefix and suffix aside)."""
        return dict((n, self.base(n)) for n in sorted(names) if self.base(n) != n)

    def problems(self, names, all_source_names=None):
        """``{source topic: why}`` for the ``names`` whose target name is refused or collides.

        Collisions: two selected topics with one target name, or a renamed topic landing on the name
        of another source topic (that topic's own target, in a same-name migration).
        """
        out = {}
        targets = {}
        for n in sorted(names):
            targets.setdefault(self.target(n), []).append(n)
        every = set(all_source_names if all_source_names is not None else names)
        for n in sorted(names):
            t = self.target(n)
            if self.name_rule is not None:
                why = name_problem(t, self.name_rule)
                if why:
                    out[n] = "target %s%s" % (why, " (from the rename map)" if n in self.rename else "; give it a name in the rename map")
                    continue
            if len(targets[t]) > 1:
                out[n] = "target topic %r would be the target of %s too: give them distinct names in the rename map" % (
                    t, ", ".join(repr(o) for o in targets[t] if o != n))
            elif t != n and t in every and t not in names:
                out[n] = "target topic %r is the name of another source topic: give %r another name in the rename map" % (t, n)
            elif t != n and t in every and self.target(t) == t:
                out[n] = "target topic %r is the name of another source topic: give %r another name in the rename map" % (t, n)
        return out


def name_rule_of(target):
    """The name rule of a target that refuses some Kafka topic names (``api: alibaba``), else None.

    ``target``: an :class:`admin.ClusterView`, a :class:`connection.Cluster`, a cluster options dict or
    None. Read from the options (``alibaba.name_rule``, default strict), never from the service, so it
    needs neither the SDK nor a route to the API (application hosts call it too).
    """
    cluster = getattr(target, "cluster", target)
    options = getattr(cluster, "params", cluster) or {}
    if (options.get("api") or "kafka") != "alibaba":
        return None
    return (options.get("alibaba") or {}).get("name_rule") or DEFAULT_NAME_RULE


def map_topic_for(target, given=None):
    """The offset map's topic on ``target``: ``given``, else the default, ``kafkaops.mirror.offsets`` or, on a
    target of ``api: alibaba`` (which refuses '.'), ``kafkaops_mirror_offsets``."""
    if given:
        return given
    return offsetmap.ALIBABA_TOPIC if name_rule_of(target) else offsetmap.DEFAULT_TOPIC


def validate_rename(rename):
    """A rename map must be ``{str: str}`` with no two sources on one target."""
    if rename is None:
        return {}
    if not isinstance(rename, dict):
        raise AlibabaError("rename must be a dict of source topic -> target topic")
    seen = {}
    for k, v in rename.items():
        if not isinstance(v, str) or not v:
            raise AlibabaError("rename: the target name of %r must be a non-empty string" % (k,))
        if v in seen:
            raise AlibabaError("rename: %r and %r both map to %r" % (seen[v], k, v))
        seen[v] = k
    return dict(rename)


# -- the API client ----------------------------------------------------------------------------------

class RateLimit:
    """At most ``rate`` calls per second (an even spacing, the way the service's per-second quota counts)."""

    def __init__(self, rate, clock=time.monotonic, sleep=time.sleep):
        self.interval = 1.0 / float(rate) if rate and rate > 0 else 0.0
        self.clock, self.sleep = clock, sleep
        self.next = None
        self.lock = threading.Lock()
        self.waited = 0.0

    def acquire(self, deadline=None):
        with self.lock:
            now = self.clock()
            at = now if self.next is None else max(now, self.next)
            if deadline is not None and deadline.remaining() is not None and at - now > deadline.remaining():
                raise AlibabaError("the module timeout ran out waiting for the API rate limit (%.3g calls/s)"
                                   % (1.0 / self.interval))
            self.next = at + self.interval
        if at > now:
            self.waited += at - now
            self.sleep(at - now)


def _exc_fields(exc):
    code = getattr(exc, "code", None)
    status = getattr(exc, "status_code", None)
    data = getattr(exc, "data", None) or {}
    message = getattr(exc, "message", None) or str(exc)
    if isinstance(data, dict):
        code = code or data.get("Code")
        status = status or data.get("statusCode")
    return ("%s" % code if code not in (None, "None") else None), status, message, getattr(exc, "retry_after", None)


# Attempts of a read whose request got no answer at all (refused, reset, timed out) before it fails:
# an endpoint that does not answer three times in a row is down or wrong, not busy.
TRANSPORT_ATTEMPTS = 3


def _transport_text(message):
    """The cause of a transport failure without the HTTP library's wrapping (``RetryError({...})``)."""
    text = str(message)
    for marker in ("Failed to establish a new connection: ", "Caused by ", "Max retries exceeded"):
        if marker in text:
            text = text.split(marker, 1)[1] if marker != "Max retries exceeded" else text
    for cause in ("Connection refused", "timed out", "Name or service not known", "Temporary failure in name resolution",
                  "No route to host", "Connection reset", "certificate verify failed"):
        if cause.lower() in text.lower():
            return cause
    return text.strip(" '\"(){}[]")[:300]


def is_throttling(code, status=None):
    return bool(code) and (code in THROTTLING_CODES or str(code).startswith("Throttling")) or status == 429


class AlibabaApi:
    """One ApsaraMQ for Kafka region and instance, through the official SDK.

    ``options``: the target's ``alibaba`` dict. ``name``: for messages ("target"). ``deadline``: the
    module's :class:`Deadline`. ``client``: an SDK client (tests); built from the options otherwise.
    """

    def __init__(self, options, name="target", deadline=None, client=None, sleep=time.sleep):
        self.options = dict(options or {})
        self.name = name
        self.region = self.options.get("region_id")
        if not self.region:
            raise AlibabaError("%s: alibaba.region_id is required" % name)
        self.instance_id = self.options.get("instance_id")
        self.deadline = deadline or Deadline(None)
        self.name_rule = self.options.get("name_rule") or DEFAULT_NAME_RULE
        self.storage = self.options.get("topic_storage") or "cloud"
        rate = self.options.get("rate_limit")
        rate = 1.0 if rate is None else float(rate)
        if rate <= 0:
            raise AlibabaError("%s: alibaba.rate_limit must be positive (calls per second), got %r" % (name, rate))
        self.limit = RateLimit(rate, sleep=sleep)
        self.request_timeout = float(self.options.get("request_timeout") or 10.0)
        self.sleep = sleep
        self.calls = 0
        self.throttled = 0
        self._client = client

    def __str__(self):
        where = "instance %s" % self.instance_id if self.instance_id else "region %s" % self.region
        return "%s (Alibaba Cloud ApsaraMQ for Kafka, %s)" % (self.name, where)

    @property
    def endpoint(self):
        return self.options.get("endpoint") or "alikafka.%s.aliyuncs.com" % self.region

    @property
    def client(self):
        if self._client is None:
            if not HAS_ALIKAFKA_SDK:
                raise AlibabaError("%s: the alibabacloud-alikafka20190916 Python library is required for api: alibaba" % self.name)
            conf = dict(endpoint=self.endpoint, protocol=self.options.get("protocol") or "https", region_id=self.region,
                        read_timeout=int(self.request_timeout * 1000), connect_timeout=int(min(self.request_timeout, 5) * 1000))
            if self.options.get("access_key_id"):
                if not self.options.get("access_key_secret"):
                    raise AlibabaError("%s: alibaba.access_key_id needs alibaba.access_key_secret" % self.name)
                conf.update(access_key_id=self.options["access_key_id"], access_key_secret=self.options["access_key_secret"])
                if self.options.get("security_token"):
                    conf["security_token"] = self.options["security_token"]
            else:
                # the default credential chain: ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET, ~/.alibabacloud/credentials,
                # an ECS RAM role ... (alibabacloud-credentials)
                try:
                    from alibabacloud_credentials.client import Client as CredentialClient
                    conf["credential"] = CredentialClient()
                except Exception as exc:
                    raise AlibabaError("%s: no Alibaba Cloud credentials: give alibaba.access_key_id/access_key_secret "
                                       "or set ALIBABA_CLOUD_ACCESS_KEY_ID/ALIBABA_CLOUD_ACCESS_KEY_SECRET (%s)"
                                       % (self.name, type(exc).__name__))
            self._client = AlikafkaClient(openapi_models.Config(**conf))
        return self._client

    def _runtime(self):
        left = self.deadline.remaining()
        t = self.request_timeout if left is None else max(min(self.request_timeout, left), 0.5)
        return RuntimeOptions(autoretry=False, max_attempts=1, read_timeout=int(t * 1000), connect_timeout=int(min(t, 5) * 1000))

    def call(self, action, request, retry_safe=True):
        """Call ``action`` (the SDK method name, e.g. ``create_topic``) with ``request``; return the body as a
        dict. Throttling answers (nothing applied) are retried with back-off until the deadline; so are
        transport errors when ``retry_safe``. A body with ``Success: false`` raises :class:`AlibabaError`."""
        method = getattr(self.client, "%s_with_options" % action)
        pause = 0.5
        failed_transport = 0
        while True:
            self.limit.acquire(self.deadline)
            self.calls += 1
            try:
                resp = method(request, self._runtime())
            except Exception as exc:  # the SDK raises ClientException / ServerException / ThrottlingException / transport errors
                code, status, message, retry_after = _exc_fields(exc)
                throttled = is_throttling(code, status)
                transport = code is None and status is None
                if throttled:
                    self.throttled += 1
                if transport:
                    failed_transport += 1
                    message = _transport_text(message)
                if throttled or (transport and retry_safe and failed_transport < TRANSPORT_ATTEMPTS):
                    wait = float(retry_after) / 1000.0 if retry_after else pause
                    left = self.deadline.remaining()
                    if left is None or left > wait + 0.5:
                        self.sleep(wait)
                        pause = min(pause * 2, 8.0)
                        continue
                if transport:
                    message = "no answer from %s after %d attempt(s): %s" % (self.endpoint, failed_transport, message)
                raise AlibabaError("%s: %s failed: %s%s" % (self, _action_name(action), message,
                                                            "" if not code or code in message else " (%s)" % code),
                                   code=code, action=action)
            body = resp.body.to_map() if resp is not None and resp.body is not None else {}
            if body.get("Success") is False or (body.get("Code") not in (None, 200, "200") and body.get("Success") is not True):
                code = body.get("Code")
                if is_throttling(str(code)):
                    self.throttled += 1
                    left = self.deadline.remaining()
                    if left is None or left > pause + 0.5:
                        self.sleep(pause)
                        pause = min(pause * 2, 8.0)
                        continue
                raise AlibabaError("%s: %s failed: %s (code %s)" % (self, _action_name(action), body.get("Message"), code),
                                   code=str(code), action=action)
            return body

    # -- instances -------------------------------------------------------------------------------
    def instances(self, instance_id=None):
        """The region's instances (``InstanceVO`` dicts), or the one ``instance_id``."""
        req = ali_models.GetInstanceListRequest(region_id=self.region)
        if instance_id:
            req.instance_id = [instance_id]
        body = self.call("get_instance_list", req)
        return list(((body.get("InstanceList") or {}).get("InstanceVO")) or [])

    def instance(self, instance_id=None):
        iid = instance_id or self.instance_id
        if not iid:
            raise AlibabaError("%s: alibaba.instance_id is required" % self.name)
        for inst in self.instances(iid):
            if inst.get("InstanceId") == iid:
                return inst
        raise AlibabaError("%s: instance %s not found in region %s" % (self.name, iid, self.region), code="NotFound")

    def require_running(self):
        inst = self.instance()
        status = inst.get("ServiceStatus")
        if status != RUNNING:
            raise AlibabaError("%s: the instance is %s (ServiceStatus %s), not running: deploy it first (step 2)"
                               % (self, STATUS_NAMES.get(status, "in an unknown state"), status))
        return inst

    def create_instance(self, order):
        """CreatePostPayInstance with ``order`` (SDK request field names); returns ``(instance_id, order_id)``."""
        req = ali_models.CreatePostPayInstanceRequest(region_id=self.region, **order)
        body = self.call("create_post_pay_instance", req, retry_safe=False)
        data = body.get("Data") or {}
        return data.get("InstanceId"), data.get("OrderId")

    def start_instance(self, instance_id, deploy):
        req = ali_models.StartInstanceRequest(region_id=self.region, instance_id=instance_id, **deploy)
        return self.call("start_instance", req, retry_safe=False)

    # -- topics ----------------------------------------------------------------------------------
    def pages(self, action, make_request, list_key, item_key, id_key):
        """``{id: item}`` over every page of a list call (``make_request(page)`` builds page ``page``'s request)."""
        out = {}
        page = 1
        while True:
            body = self.call(action, make_request(page))
            items = ((body.get(list_key) or {}).get(item_key)) or []
            for item in items:
                out[item[id_key]] = item
            total = body.get("Total")
            if not items or len(items) < PAGE_SIZE or (total is not None and len(out) >= int(total)):
                return out
            page += 1

    def topics(self):
        """``{topic: TopicVO dict}`` of the instance, all pages."""
        return self.pages("get_topic_list", lambda page: ali_models.GetTopicListRequest(
            instance_id=self.instance_id, region_id=self.region, current_page=str(page), page_size=str(PAGE_SIZE)),
            "TopicList", "TopicVO", "Topic")

    def create_topic(self, topic, partitions, remark, local=False, compact=None, replication_factor=None,
                     min_insync_replicas=None, config=None):
        req = ali_models.CreateTopicRequest(instance_id=self.instance_id, region_id=self.region, topic=topic,
                                            remark=remark, partition_num=str(partitions))
        if local:
            req.local_topic = True
            if compact is not None:
                req.compact_topic = bool(compact)
            if replication_factor:
                req.replication_factor = int(replication_factor)
            if min_insync_replicas:
                req.min_insync_replicas = int(min_insync_replicas)
            if config:
                req.config = json.dumps(config, sort_keys=True)
        return self.call("create_topic", req)

    def add_partitions(self, topic, add):
        req = ali_models.ModifyPartitionNumRequest(instance_id=self.instance_id, region_id=self.region, topic=topic,
                                                   add_partition_num=int(add))
        return self.call("modify_partition_num", req)

    # -- groups ----------------------------------------------------------------------------------
    def groups(self):
        """``{group: ConsumerVO dict}`` of the instance, all pages."""
        return self.pages("get_consumer_list", lambda page: ali_models.GetConsumerListRequest(
            instance_id=self.instance_id, region_id=self.region, current_page=page, page_size=PAGE_SIZE),
            "ConsumerList", "ConsumerVO", "ConsumerId")

    def create_group(self, group, remark=None):
        req = ali_models.CreateConsumerGroupRequest(instance_id=self.instance_id, region_id=self.region, consumer_id=group)
        if remark:
            req.remark = remark
        return self.call("create_consumer_group", req)


def _action_name(action):
    return "".join(p.capitalize() for p in action.split("_"))


def remark_for(source_topic):
    """CreateTopic's required Remark (3-64 of letters, digits, ``-``, ``_``): where the topic came from."""
    text = default_rename("from-%s" % source_topic)
    return text[:NAME_MAX]


def endpoints(instance):
    """The Kafka endpoints of an instance (``InstanceVO``), as lists of ``host:port``."""
    out = {}
    for key, name in (("EndPoint", "default"), ("SaslEndPoint", "sasl"), ("SslEndPoint", "ssl"),
                      ("DomainEndpoint", "default_domain"), ("SaslDomainEndpoint", "sasl_domain"),
                      ("SslDomainEndpoint", "ssl_domain")):
        value = instance.get(key)
        if value:
            out[name] = [s.strip() for s in str(value).split(",") if s.strip()]
    return out


def public_instance(instance):
    """The fields of an instance worth returning (no secrets are in GetInstanceList)."""
    keys = ("InstanceId", "Name", "ServiceStatus", "SpecType", "IoMaxSpec", "IoMax", "DiskSize", "DiskType", "DeployType",
            "PaidType", "TopicNumLimit", "PartitionNum", "UsedTopicCount", "UsedPartitionCount", "UsedGroupCount",
            "RegionId", "ZoneId", "VpcId", "VSwitchId", "MsgRetain", "AutoCreateGroupEnable", "AutoCreateTopicEnable")
    out = dict((k, instance[k]) for k in keys if instance.get(k) is not None)
    out["status"] = STATUS_NAMES.get(instance.get("ServiceStatus"), "unknown")
    out["endpoints"] = endpoints(instance)
    return out
