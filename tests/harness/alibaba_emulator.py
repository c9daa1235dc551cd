"""A local emulator of the Alibaba Cloud ApsaraMQ for Kafka OpenAPI (alikafka, version 2019-09-16).

The real SDK (``alibabacloud-alikafka20190916``) talks to it over HTTP when its ``Config`` says
``endpoint="127.0.0.1:PORT", protocol="http"``. It checks each request's ACS3-HMAC-SHA256 signature
with a test key, enforces the service's rules, and is backed by a real Kafka cluster (the harness's KRaft
target): CreateTopic creates the topic on the real brokers, and the instance's endpoints are that
cluster's listeners.

Rules, and where each fact comes from:

=====================  ==========================================================  =====================================
Rule                   Emulated as                                                 Source
=====================  ==========================================================  =====================================
signature              ACS3-HMAC-SHA256 over method, path, sorted query, the       alibabacloud_tea_openapi 0.4.6
                       SignedHeaders, x-acs-content-sha256; unknown key ->         ``Utils.get_authorization``; codes as
                       HTTP 404 InvalidAccessKeyId.NotFound, bad signature ->      the Alibaba Cloud API error center
                       HTTP 400 SignatureDoesNotMatch                              lists them
errors                 gateway errors: HTTP 4xx + {Code, Message, RequestId} (the  the SDK's ``do_request`` (raises
                       SDK raises ClientException); business errors: HTTP 200,     ClientException on >= 400; returns
                       {Success: false, Code: 400, Message}                        the body otherwise)
throttling             token bucket per (key, action); over it -> HTTP 400         API reference CreateTopic (1/s, later
                       Throttling.User, nothing applied                            20/s: configurable here)
topic / group names    3-64 characters; strict: letters, digits, - and _;          API reference CreateTopic (strict);
                       dotted: also '.'; longer names truncated to 64              SDK 2.16.0 CreateTopicRequest docstring
                                                                                   (dotted, reserved instances)
Remark                 required, same characters as strict, 3-64                   SDK 2.16.0 CreateTopicRequest
partitions             1-360 per topic, default 12; AddPartitionNum > 0,           SDK 2.16.0 CreateTopicRequest,
                       total <= 360                                                ModifyPartitionNumRequest
quotas                 topics <= TopicNumLimit, partitions <= PartitionNum,        Limits page (topics 1:1 partitions,
                       groups <= 2 x PartitionNum                                  groups 2 x partitions)
local storage only     CompactTopic, ReplicationFactor (1-3), MinInsyncReplicas,   SDK 2.16.0 CreateTopicRequest
                       Config given for cloud storage -> refused
Config keys            retention.ms 3600000-31536000000, max.message.bytes          SDK 2.16.0 CreateTopicRequest
                       1048576-10485760, message.timestamp.type
instance states        ServiceStatus 0 to be deployed, 1 deploying, 5 running;     API reference GetInstanceList
                       topic/group calls need 5; StartInstance needs 0 and
                       reaches 5 after ``deploy_seconds``
=====================  ==========================================================  =====================================

CLI (the demo): ``python alibaba_emulator.py --clusters-file F --port P`` serves until SIGTERM.
``GET /_emulator/calls`` gives the call log as JSON, ``POST /_emulator/reset`` clears it.
"""

import argparse
import hashlib
import hmac
import json
import re
import signal
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, urlsplit

VERSION = "2019-09-16"
STRICT = re.compile(r"[A-Za-z0-9_-]+")
DOTTED = re.compile(r"[A-Za-z0-9._-]+")
LOCAL_CONFIGS = {"retention.ms": (3600000, 31536000000), "max.message.bytes": (1048576, 10485760),
                 "message.timestamp.type": ("CreateTime", "LogAppendTime")}


class ApiError(Exception):
    def __init__(self, message, code=400, http=200):
        super().__init__(message)
        self.message, self.code, self.http = message, code, http


def _canonical_query(query):
    return "&".join("%s=%s" % (k, quote(query[k], safe="~")) for k in sorted(query))


def signature_of(method, path, query, headers, signed, payload_hash, secret):
    """The ACS3-HMAC-SHA256 signature the SDK computes (alibabacloud_tea_openapi Utils.get_authorization)."""
    canon_headers = "".join("%s:%s\n" % (h, headers.get(h, "").strip()) for h in signed)
    canonical = "\n".join([method, path or "/", _canonical_query(query), canon_headers, ";".join(signed), payload_hash])
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


class Bucket:
    def __init__(self, rate):
        self.rate, self.tokens, self.at = float(rate), float(max(rate, 1.0)), time.monotonic()

    def take(self):
        now = time.monotonic()
        self.tokens = min(max(self.rate, 1.0), self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class AlikafkaEmulator:
    def __init__(self, backing=None, access_keys=None, region_id="cn-hangzhou", qps=None, deploy_seconds=3.0,
                 topic_name_rule="strict", host="127.0.0.1", port=0):
        self.backing = backing
        self.access_keys = dict(access_keys or {"LTAI-test": "test-secret"})
        self.region_id = region_id
        self.qps = dict({"CreateTopic": 20.0, "default": 50.0}, **(qps or {}))
        self.deploy_seconds = deploy_seconds
        self.name_rule = topic_name_rule
        self.instances = {}
        self.calls = []
        self.lock = threading.RLock()
        self.buckets = {}
        self._admin = None
        emu = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path.startswith("/_emulator/calls"):
                    with emu.lock:
                        self._send(200, list(emu.calls))
                else:
                    self._send(404, {"Code": "NotFound", "Message": "no such path"})

            def do_POST(self):
                if self.path.startswith("/_emulator/reset"):
                    emu.reset_calls()
                    return self._send(200, {"ok": True})
                status, body = emu.handle(self)
                self._send(status, body)

            def _send(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json;charset=utf-8")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = None

    @property
    def endpoint(self):
        return "%s:%d" % self.server.server_address[:2]

    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def reset_calls(self):
        with self.lock:
            del self.calls[:]

    # -- instances -----------------------------------------------------------------------------
    def add_instance(self, instance_id=None, name=None, spec_type="professional", io_max_spec="alikafka.hw.2xlarge",
                     partition_num=1000, topic_num_limit=1000, disk_size=500, service_status=5, tags=None, **extra):
        iid = instance_id or "alikafka_post-cn-emu%06d" % (len(self.instances) + 1)
        inst = {"InstanceId": iid, "Name": name or iid, "RegionId": self.region_id, "SpecType": spec_type,
                "IoMaxSpec": io_max_spec, "PartitionNum": partition_num, "TopicNumLimit": topic_num_limit,
                "DiskSize": disk_size, "DiskType": 1, "DeployType": 5, "PaidType": 1, "MsgRetain": 72,
                "ServiceStatus": service_status, "CreateTime": int(time.time() * 1000), "_started": None,
                "_topics": {}, "_groups": {}, "_tags": list(tags or [])}
        inst.update(extra)
        with self.lock:
            self.instances[iid] = inst
        return inst

    def _status(self, inst):
        if inst["ServiceStatus"] == 1 and inst["_started"] is not None and time.monotonic() - inst["_started"] >= self.deploy_seconds:
            inst["ServiceStatus"] = 5
        return inst["ServiceStatus"]

    def _public(self, inst):
        self._status(inst)
        out = dict((k, v) for k, v in inst.items() if not k.startswith("_"))
        if inst["ServiceStatus"] == 5 and self.backing:
            servers = self.backing["bootstrap_servers"]
            out["EndPoint"] = servers
            out["SaslEndPoint"] = servers
        out["UsedTopicCount"] = len(self._topic_names(inst))
        out["UsedPartitionCount"] = sum(self._partitions(inst).values())
        out["UsedGroupCount"] = len(inst["_groups"])
        out["Tags"] = {"TagVO": [{"Key": k, "Value": v} for k, v in inst["_tags"]]}
        return out

    # -- backing Kafka -------------------------------------------------------------------------
    @property
    def admin(self):
        if self._admin is None and self.backing:
            from confluent_kafka.admin import AdminClient
            conf = {"bootstrap.servers": self.backing["bootstrap_servers"],
                    "security.protocol": self.backing.get("security_protocol", "PLAINTEXT")}
            if self.backing.get("sasl_mechanism"):
                conf.update({"sasl.mechanism": self.backing["sasl_mechanism"], "sasl.username": self.backing["sasl_username"],
                             "sasl.password": self.backing["sasl_password"]})
            self._admin = AdminClient(conf)
        return self._admin

    def _kafka_topics(self):
        if not self.backing:
            return {}
        md = self.admin.list_topics(timeout=10)
        return dict((n, len(t.partitions)) for n, t in md.topics.items() if not n.startswith("__") and t.error is None)

    def _topic_names(self, inst):
        return sorted(set(inst["_topics"]) | set(self._kafka_topics()))

    def _partitions(self, inst):
        out = dict((n, t["PartitionNum"]) for n, t in inst["_topics"].items())
        out.update(self._kafka_topics())
        return out

    def _wait_kafka(self, topic, partitions, seconds=30.0):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self._kafka_topics().get(topic, 0) >= partitions:
                return
            time.sleep(0.1)
        raise ApiError("the brokers did not show topic %s in time" % topic, code=500)

    # -- requests ------------------------------------------------------------------------------
    def handle(self, req):
        length = int(req.headers.get("content-length") or 0)
        body = req.rfile.read(length) if length else b""
        parts = urlsplit(req.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        params = dict(query)
        if body and "x-www-form-urlencoded" in (req.headers.get("content-type") or ""):
            params.update(parse_qsl(body.decode(), keep_blank_values=True))
        action = req.headers.get("x-acs-action") or params.get("Action")
        entry = {"action": action, "params": dict((k, v) for k, v in params.items() if k not in ("SignatureNonce", "Timestamp")),
                 "ts": time.time()}
        try:
            self._authenticate(req, parts.path, query, body)
            if req.headers.get("x-acs-version") != VERSION:
                raise ApiError("version %s is not supported" % req.headers.get("x-acs-version"), "InvalidVersion", 400)
            key = (self._ak(req), action)
            with self.lock:
                bucket = self.buckets.setdefault(key, Bucket(self.qps.get(action, self.qps["default"])))
                allowed = bucket.take()
            if not allowed:
                raise ApiError("Request was denied due to user flow control.", "Throttling.User", 400)
            handler = getattr(self, "_a_%s" % action, None)
            if handler is None:
                raise ApiError("action %s is not supported" % action, "InvalidAction.NotFound", 404)
            with self.lock:
                result = handler(params)
            out = {"Success": True, "Code": 200, "Message": "operation success.", "RequestId": str(uuid.uuid4())}
            out.update(result or {})
            status = 200
        except ApiError as exc:
            status = exc.http
            if exc.http == 200:
                out = {"Success": False, "Code": exc.code, "Message": exc.message, "RequestId": str(uuid.uuid4())}
            else:
                out = {"Code": exc.code, "Message": exc.message, "RequestId": str(uuid.uuid4())}
        entry.update(http_status=status, code=out.get("Code"), success=out.get("Success", False))
        with self.lock:
            self.calls.append(entry)
        return status, out

    def _ak(self, req):
        m = re.search(r"Credential=([^,]+)", req.headers.get("Authorization") or "")
        return m.group(1) if m else None

    def _authenticate(self, req, path, query, body):
        auth = req.headers.get("Authorization") or ""
        m = re.match(r"ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]+)$", auth)
        if not m:
            raise ApiError("the Authorization header is missing or malformed", "IncompleteSignature", 400)
        ak, signed, signature = m.group(1), m.group(2).split(";"), m.group(3)
        if ak not in self.access_keys:
            raise ApiError("Specified access key is not found.", "InvalidAccessKeyId.NotFound", 404)
        payload = req.headers.get("x-acs-content-sha256") or ""
        if payload != hashlib.sha256(body).hexdigest():
            raise ApiError("the payload hash does not match", "SignatureDoesNotMatch", 400)
        headers = dict((k.lower(), v) for k, v in req.headers.items())
        expected = signature_of(req.command, path, query, headers, signed, payload, self.access_keys[ak])
        if not hmac.compare_digest(expected, signature):
            raise ApiError("Specified signature is not matched with our calculation.", "SignatureDoesNotMatch", 400)

    # -- helpers -------------------------------------------------------------------------------
    @staticmethod
    def _need(params, *names):
        for n in names:
            if params.get(n) in (None, ""):
                raise ApiError("%s is mandatory for this action." % n, "MissingParameter", 400)

    def _instance(self, params, running=True):
        self._need(params, "InstanceId", "RegionId")
        inst = self.instances.get(params["InstanceId"])
        if inst is None or params["RegionId"] != self.region_id:
            raise ApiError("instance %s not found in region %s" % (params["InstanceId"], params.get("RegionId")), 400)
        if running and self._status(inst) != 5:
            raise ApiError("instance %s is not running (ServiceStatus %s)" % (inst["InstanceId"], inst["ServiceStatus"]), 400)
        return inst

    def _name(self, name, what):
        if len(name) > 64:
            name = name[:64]  # the service truncates longer names
        if len(name) < 3:
            raise ApiError("%s name %r must be 3 to 64 characters" % (what, name), 400)
        if not (DOTTED if self.name_rule == "dotted" else STRICT).fullmatch(name):
            raise ApiError("%s name %r has characters that are not allowed" % (what, name), 400)
        return name

    @staticmethod
    def _bool(v):
        return str(v).lower() == "true"

    # -- actions -------------------------------------------------------------------------------
    def _a_GetInstanceList(self, params):
        self._need(params, "RegionId")
        wanted = [v for k, v in params.items() if k.startswith("InstanceId")]
        if params.get("InstanceId"):
            try:
                wanted = json.loads(params["InstanceId"]) if params["InstanceId"].startswith("[") else [params["InstanceId"]]
            except ValueError:
                wanted = [params["InstanceId"]]
        out = [self._public(i) for iid, i in sorted(self.instances.items())
               if params["RegionId"] == self.region_id and (not wanted or iid in wanted)]
        return {"InstanceList": {"InstanceVO": out}}

    def _a_CreatePostPayInstance(self, params):
        self._need(params, "RegionId", "DeployType")
        if params["RegionId"] != self.region_id:
            raise ApiError("region %s is not served" % params["RegionId"], 400)
        if params["DeployType"] not in ("4", "5"):
            raise ApiError("DeployType must be 4 or 5", 400)
        if not params.get("IoMaxSpec") and not params.get("IoMax"):
            raise ApiError("IoMaxSpec or IoMax is required", 400)
        if not params.get("PartitionNum") and not params.get("TopicQuota"):
            raise ApiError("PartitionNum or TopicQuota is required", 400)
        self._need(params, "DiskSize", "DiskType", "SpecType")
        tags = []
        i = 1
        while params.get("Tag.%d.Key" % i):
            tags.append((params["Tag.%d.Key" % i], params.get("Tag.%d.Value" % i, "")))
            i += 1
        parts = int(params.get("PartitionNum") or params.get("TopicQuota"))
        inst = self.add_instance(spec_type=params["SpecType"], io_max_spec=params.get("IoMaxSpec") or params.get("IoMax"),
                                 partition_num=parts, topic_num_limit=parts, disk_size=int(params["DiskSize"]),
                                 service_status=0, tags=tags, DeployType=int(params["DeployType"]))
        return {"Data": {"InstanceId": inst["InstanceId"], "OrderId": "emu-order-%s" % inst["InstanceId"][-6:]}}

    def _a_StartInstance(self, params):
        inst = self._instance(params, running=False)
        self._need(params, "VpcId", "VSwitchId", "ZoneId")
        if self._status(inst) != 0:
            raise ApiError("instance %s is not waiting to be deployed (ServiceStatus %s)" % (inst["InstanceId"], inst["ServiceStatus"]), 400)
        inst.update(ServiceStatus=1, _started=time.monotonic(), VpcId=params["VpcId"], VSwitchId=params["VSwitchId"],
                    ZoneId=params["ZoneId"], Name=params.get("Name") or inst["Name"])
        return {}

    def _a_GetTopicList(self, params):
        inst = self._instance(params)
        page, size = int(params.get("CurrentPage") or 1), int(params.get("PageSize") or 10)
        parts = self._partitions(inst)
        names = [n for n in sorted(parts) if not params.get("Topic") or n == params["Topic"]]
        chunk = names[(page - 1) * size:page * size]
        items = []
        for n in chunk:
            t = inst["_topics"].get(n) or {"Remark": "created on the brokers", "LocalTopic": False, "CompactTopic": False,
                                           "CreateTime": 0, "AutoCreate": True}
            items.append({"Topic": n, "PartitionNum": parts[n], "Remark": t["Remark"], "LocalTopic": t["LocalTopic"],
                          "CompactTopic": t["CompactTopic"], "Status": 0, "StatusName": "Running", "CreateTime": t["CreateTime"],
                          "InstanceId": inst["InstanceId"], "RegionId": self.region_id})
        return {"Total": len(names), "CurrentPage": page, "PageSize": size, "TopicList": {"TopicVO": items}}

    def _a_CreateTopic(self, params):
        inst = self._instance(params)
        self._need(params, "Topic", "Remark")
        topic = self._name(params["Topic"], "topic")
        remark = params["Remark"]
        if not 3 <= len(remark) <= 64 or not STRICT.fullmatch(remark):
            raise ApiError("Remark %r must be 3 to 64 letters, digits, - or _" % remark, 400)
        n = int(params.get("PartitionNum") or 12)
        if not 1 <= n <= 360:
            raise ApiError("PartitionNum %d is outside 1 to 360" % n, 400)
        local = self._bool(params.get("LocalTopic"))
        if not local and any(params.get(k) for k in ("CompactTopic", "ReplicationFactor", "MinInsyncReplicas", "Config")):
            raise ApiError("CompactTopic, ReplicationFactor, MinInsyncReplicas and Config need LocalTopic=true", 400)
        parts = self._partitions(inst)
        if topic in parts:
            raise ApiError("The topic %s already exists." % topic, 400)
        if len(parts) + 1 > inst["TopicNumLimit"]:
            raise ApiError("the topic quota of the instance (%d) is used up" % inst["TopicNumLimit"], 400)
        if sum(parts.values()) + n > inst["PartitionNum"]:
            raise ApiError("the partition quota of the instance (%d) is used up" % inst["PartitionNum"], 400)
        configs = {}
        if params.get("Config"):
            for k, v in json.loads(params["Config"]).items():
                if k not in LOCAL_CONFIGS:
                    raise ApiError("Config key %s is not supported" % k, 400)
                lo, hi = LOCAL_CONFIGS[k]
                if isinstance(lo, int) and not lo <= int(v) <= hi or not isinstance(lo, int) and v not in (lo, hi):
                    raise ApiError("Config %s=%s is out of range" % (k, v), 400)
                configs[k] = str(v)
        compact = self._bool(params.get("CompactTopic"))
        if compact:
            configs["cleanup.policy"] = "compact"
        if params.get("MinInsyncReplicas"):
            configs["min.insync.replicas"] = params["MinInsyncReplicas"]
        rf = int(params.get("ReplicationFactor") or 3) if local else 3
        if not 1 <= rf <= 3:
            raise ApiError("ReplicationFactor must be 1 to 3", 400)
        if self.backing:
            from confluent_kafka.admin import NewTopic
            brokers = int(self.backing.get("brokers") or 1)
            fut = self.admin.create_topics([NewTopic(topic, n, min(rf, brokers), config=configs)], operation_timeout=30)[topic]
            try:
                fut.result(timeout=40)
            except Exception as exc:
                raise ApiError("creating %s on the brokers failed: %s" % (topic, exc), 500)
            self._wait_kafka(topic, n)
        inst["_topics"][topic] = {"PartitionNum": n, "Remark": remark, "LocalTopic": local, "CompactTopic": compact,
                                  "CreateTime": int(time.time() * 1000), "AutoCreate": False}
        return {}

    def _a_ModifyPartitionNum(self, params):
        inst = self._instance(params)
        self._need(params, "Topic", "AddPartitionNum")
        parts = self._partitions(inst)
        topic, add = params["Topic"], int(params["AddPartitionNum"])
        if topic not in parts:
            raise ApiError("topic %s does not exist" % topic, 400)
        if add <= 0 or parts[topic] + add > 360:
            raise ApiError("AddPartitionNum must be positive and the total at most 360", 400)
        if sum(parts.values()) + add > inst["PartitionNum"]:
            raise ApiError("the partition quota of the instance (%d) is used up" % inst["PartitionNum"], 400)
        if self.backing:
            from confluent_kafka.admin import NewPartitions
            self.admin.create_partitions([NewPartitions(topic, parts[topic] + add)], operation_timeout=30)[topic].result(timeout=40)
            self._wait_kafka(topic, parts[topic] + add)
        if topic in inst["_topics"]:
            inst["_topics"][topic]["PartitionNum"] = parts[topic] + add
        return {}

    def _kafka_groups(self):
        if not self.backing:
            return []
        res = self.admin.list_consumer_groups(request_timeout=10).result(timeout=15)
        return [g.group_id for g in res.valid]

    def _a_GetConsumerList(self, params):
        inst = self._instance(params)
        page, size = int(params.get("CurrentPage") or 1), int(params.get("PageSize") or 10)
        names = sorted(set(inst["_groups"]) | set(self._kafka_groups()))
        if params.get("ConsumerId"):
            names = [n for n in names if n == params["ConsumerId"]]
        items = [{"ConsumerId": n, "InstanceId": inst["InstanceId"], "RegionId": self.region_id,
                  "Remark": inst["_groups"].get(n, {}).get("Remark"), "AutomaticallyCreatedGroup": n not in inst["_groups"]}
                 for n in names[(page - 1) * size:page * size]]
        return {"Total": len(names), "CurrentPage": page, "PageSize": size, "ConsumerList": {"ConsumerVO": items}}

    def _a_CreateConsumerGroup(self, params):
        inst = self._instance(params)
        self._need(params, "ConsumerId")
        group = self._name(params["ConsumerId"], "group")
        if group in inst["_groups"]:
            raise ApiError("The group %s already exists." % group, 400)
        if len(inst["_groups"]) + 1 > 2 * inst["PartitionNum"]:
            raise ApiError("the group quota of the instance (%d) is used up" % (2 * inst["PartitionNum"]), 400)
        inst["_groups"][group] = {"Remark": params.get("Remark")}
        return {}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clusters-file", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--instance-id", default="alikafka_post-cn-emu000001")
    ap.add_argument("--create-topic-qps", type=float, default=20.0)
    ap.add_argument("--access-key-id", default="LTAI-test")
    ap.add_argument("--access-key-secret", default="test-secret")
    ap.add_argument("--name-rule", default="strict", choices=["strict", "dotted"])
    args = ap.parse_args(argv)
    with open(args.clusters_file) as fh:
        backing = json.load(fh)["target"]
    emu = AlikafkaEmulator(backing=backing, access_keys={args.access_key_id: args.access_key_secret},
                           qps={"CreateTopic": args.create_topic_qps}, topic_name_rule=args.name_rule, port=args.port)
    emu.add_instance(instance_id=args.instance_id, name="migration-target")
    emu.start()
    print("alibaba-emulator: listening on %s" % emu.endpoint, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    done.wait()
    emu.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
