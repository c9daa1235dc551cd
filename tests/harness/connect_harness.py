"""A real Kafka Connect distributed worker with the MirrorMaker 2 connectors, for tests and benchmarks.

The worker (``org.apache.kafka.connect.cli.ConnectDistributed``) is built from the ``connect-runtime``
and ``connect-mirror`` jars on Maven Central (``maven/connect-<version>/pom.xml``, copied into the same
cache as the Kafka jars by :func:`kafka_harness.install`). Like a Connect cluster deployed next to the
cluster it writes to, its Kafka cluster is the harness's ``target`` (SASL_PLAINTEXT / SCRAM-SHA-512):
internal topics (configs, offsets, status) live there, and so does every record a source connector
(MirrorSourceConnector) produces. ``exactly.once.source.support=enabled`` lets connectors ask for
``exactly.once.support=required``.

Each start uses a fresh worker group and fresh internal topics (``kafkaops-connect-<tag>-...``), so a
restarted worker never resurrects connectors of an earlier run; stopping the worker deletes them again.

Command line (``python tests/harness/connect_harness.py --help``)::

    install              copy the jars (idempotent)
    up [--detach]        start a worker against the running clusters (KAFKAOPS_CLUSTERS_FILE), wait
                         until its REST API answers and lists the MirrorMaker 2 connectors
    status               print the connect file and whether the worker answers
    down                 stop a worker started with --detach
    run -- CMD ...       start, run CMD with KAFKAOPS_CONNECT_URL set, stop (always)
    bench [--mb N]       copy N MB through MirrorMaker 2 on the running worker (deployed by the
                         collection's mirrormaker2 engine) and print MB/s and the worker's RSS

The worker's description (``url``, ``group_id``, internal topics, ``pid``) is written as JSON to
``<workdir>/connect.json``. Logs: ``<workdir>/logs/connect.log``.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import kafka_harness  # noqa: E402

# Maven Central has connect-runtime 4.4.0 but no connect-mirror 4.4.0 (see the pom): 4.3.1 is the
# newest release whose worker and MirrorMaker 2 jars can be taken from one version.
CONNECT_VERSION = "4.3.1"
DEFAULT_WORKDIR = os.path.join(os.environ.get("TMPDIR", "/tmp"), "kafkaops-connect")
DEFAULT_PORT = 19083
MIRROR_CONNECTORS = (
    "org.apache.kafka.connect.mirror.MirrorSourceConnector",
    "org.apache.kafka.connect.mirror.MirrorCheckpointConnector",
    "org.apache.kafka.connect.mirror.MirrorHeartbeatConnector",
)


def pom_dir(version: str = CONNECT_VERSION) -> str:
    return os.path.join(HERE, "maven", "connect-%s" % version)


def libs_dir(version: str = CONNECT_VERSION) -> str:
    return os.path.join(kafka_harness.cache_dir(), "connect-%s" % version, "libs")


def install(version: str = CONNECT_VERSION) -> None:
    kafka_harness.install(versions=(), extra_poms=[pom_dir(version)])


def _jaas_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _jaas(user: str, password: str, mechanism: str) -> str:
    module = ("org.apache.kafka.common.security.plain.PlainLoginModule" if mechanism == "PLAIN"
              else "org.apache.kafka.common.security.scram.ScramLoginModule")
    return '%s required username="%s" password="%s";' % (module, _jaas_escape(user), _jaas_escape(password))


def worker_properties(cluster: dict, port: int, tag: str) -> dict:
    """The worker config for a clusters.json entry (the cluster the worker writes to)."""
    security = {"security.protocol": cluster.get("security_protocol", "PLAINTEXT")}
    if cluster.get("sasl_mechanism"):
        security["sasl.mechanism"] = cluster["sasl_mechanism"]
        security["sasl.jaas.config"] = _jaas(cluster["sasl_username"], cluster["sasl_password"],
                                             cluster["sasl_mechanism"])
    rf = min(int(cluster.get("brokers", 1)), 3)
    props = {
        "bootstrap.servers": cluster["bootstrap_servers"],
        "group.id": "kafkaops-connect-%s" % tag,
        "config.storage.topic": "kafkaops-connect-%s-configs" % tag,
        "offset.storage.topic": "kafkaops-connect-%s-offsets" % tag,
        "status.storage.topic": "kafkaops-connect-%s-status" % tag,
        "config.storage.replication.factor": rf,
        "offset.storage.replication.factor": rf,
        "status.storage.replication.factor": rf,
        "offset.storage.partitions": 5,
        "status.storage.partitions": 2,
        "key.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
        "value.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
        "header.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
        "listeners": "http://127.0.0.1:%d" % port,
        "rest.advertised.host.name": "127.0.0.1",
        "rest.advertised.port": port,
        "exactly.once.source.support": "enabled",
        "offset.flush.interval.ms": 1000,
        "scheduled.rebalance.max.delay.ms": 5000,
        "task.shutdown.graceful.timeout.ms": 5000,
        # Connectors may tune their own clients (producer.override.*), as MirrorMaker 2 users often do.
        "connector.client.config.override.policy": "All",
    }
    # The worker's own clients take the top-level settings; the clients it builds for connectors
    # (producer.*, consumer.*, admin.*) need them repeated under their prefix.
    for prefix in ("", "producer.", "consumer.", "admin."):
        for key, value in security.items():
            props[prefix + key] = value
    return props


LOG4J2 = """status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafkaops.log.file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %X{connector.context}%m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = org.apache.kafka
logger.kafka.level = WARN
logger.connect.name = org.apache.kafka.connect
logger.connect.level = INFO
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
"""


def _get(url: str, timeout: float = 3.0):
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback test worker
        return json.loads(resp.read().decode() or "null")


def worker_alive(url: str) -> dict | None:
    """``GET /`` of the worker when it answers and lists the MirrorMaker 2 connectors, else None."""
    try:
        info = _get(url.rstrip("/") + "/")
        plugins = {p["class"] for p in _get(url.rstrip("/") + "/connector-plugins")}
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return info if all(c in plugins for c in MIRROR_CONNECTORS) else None


class ConnectWorker:
    """Start/stop one distributed worker; usable as a context manager."""

    def __init__(self, cluster: dict, workdir: str = DEFAULT_WORKDIR, port: int = DEFAULT_PORT,
                 heap: str = "384m", version: str = CONNECT_VERSION):
        self.cluster = cluster
        self.workdir = workdir
        self.port = port
        self.heap = heap
        self.version = version
        self.tag = uuid.uuid4().hex[:8]
        self.props = worker_properties(cluster, port, self.tag)
        self.url = "http://127.0.0.1:%d" % port
        self.popen = None
        self.connect_file = os.path.join(workdir, "connect.json")

    def describe(self) -> dict:
        return {
            "url": self.url,
            "version": self.version,
            "group_id": self.props["group.id"],
            "internal_topics": self.internal_topics(),
            "pid": self.popen.pid if self.popen else None,
            "log": os.path.join(self.workdir, "logs", "connect.log"),
        }

    def internal_topics(self) -> list:
        return [self.props[k] for k in ("config.storage.topic", "offset.storage.topic", "status.storage.topic")]

    def start(self, timeout: float = 180) -> dict:
        if kafka_harness._port_open(self.port):
            raise RuntimeError("port %d already in use (another Connect worker? use --port)" % self.port)
        install(self.version)
        logs = os.path.join(self.workdir, "logs")
        os.makedirs(logs, exist_ok=True)
        conf = os.path.join(self.workdir, "conf")
        os.makedirs(conf, exist_ok=True)
        props_path = os.path.join(conf, "connect-%s.properties" % self.tag)
        kafka_harness._write(props_path, kafka_harness._props(self.props))
        log4j = os.path.join(conf, "connect-log4j2.properties")
        kafka_harness._write(log4j, LOG4J2)
        argv = [
            "java", "-Xms64m", "-Xmx" + self.heap, "-XX:+UseSerialGC", "-XX:MaxMetaspaceSize=192m",
            "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
            "-Dkafkaops.log.file=" + os.path.join(logs, "connect.log"),
            "-Dlog4j2.configurationFile=" + log4j,
            "-cp", os.path.join(libs_dir(self.version), "*"),
            "org.apache.kafka.connect.cli.ConnectDistributed", props_path,
        ]
        out = open(os.path.join(logs, "connect.out"), "w")
        self.popen = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      start_new_session=True)
        out.close()
        atexit.register(self.stop)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            rc = self.popen.poll()
            if rc is not None:
                raise RuntimeError("Connect worker exited with %s during start-up; see %s" % (rc, logs))
            if worker_alive(self.url):
                desc = self.describe()
                kafka_harness._write(self.connect_file, json.dumps(desc, indent=2))
                return desc
            time.sleep(1)
        self.stop()
        raise RuntimeError("Connect worker did not answer on %s within %ss; see %s" % (self.url, timeout, logs))

    def stop(self) -> None:
        if self.popen is None:
            return
        kafka_harness.terminate([self.popen], grace=30)
        self.popen = None
        delete_internal_topics(self.cluster, self.internal_topics())
        try:
            os.unlink(self.connect_file)
        except OSError:
            pass

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


def delete_internal_topics(cluster: dict, topics: list) -> None:
    """Delete the worker's own internal topics (never anything else) on its Kafka cluster."""
    try:
        from confluent_kafka.admin import AdminClient
        admin = AdminClient(kafka_harness.client_config(cluster))  # keep it alive until the futures resolve
        futures = admin.delete_topics(topics, request_timeout=15)
        for fut in futures.values():
            try:
                fut.result(timeout=20)
            except Exception:  # noqa: BLE001 - already gone, or the cluster is down: nothing to clean
                pass
    except Exception:  # noqa: BLE001
        pass


def bench(url: str, clusters: dict, mb: int = 100, partitions: int = 6, tasks: int = 4, record_size: int = 1024,
          timeout: float = 900, worker_pid: int | None = None) -> dict:
    """Copy ``mb`` MB through MirrorMaker 2 on the worker at ``url`` (the collection's mirrormaker2
    engine deploys it) and measure the rate: from the deploy call until the committed offsets reach
    the source's log end. Creates and deletes its own topics and connectors."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
    from tests.utils.collection import collections_root
    sys.path.insert(0, collections_root())
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    from ansible_collections.kafkaops.migration.plugins.module_utils import mm2
    from ansible_collections.kafkaops.migration.plugins.module_utils.connection import Cluster
    from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline

    def options(c):
        opts = dict((k, c[k]) for k in ("security_protocol", "sasl_mechanism", "sasl_username", "sasl_password") if c.get(k))
        opts["bootstrap_servers"] = c["bootstrap_servers"].split(",")
        return opts

    tag = uuid.uuid4().hex[:8]
    topic, prefix = "mm2-bench-%s" % tag, "mm2-bench-%s" % tag
    admins = dict((n, AdminClient(kafka_harness.client_config(clusters[n]))) for n in ("source", "target"))
    admins["source"].create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
    time.sleep(2)
    records = mb * 1024 * 1024 // record_size
    payload = os.urandom(record_size)
    producer = Producer(dict(kafka_harness.client_config(clusters["source"]), **{
        "linger.ms": 50, "batch.size": 1048576, "compression.type": "none", "acks": "all"}))
    t0 = time.monotonic()
    for i in range(records):
        while True:
            try:
                producer.produce(topic, key=b"%d" % i, value=payload, partition=i % partitions)
                break
            except BufferError:
                producer.poll(0.1)
        if i % 10000 == 0:
            producer.poll(0)
    producer.flush(120)
    produced_s = time.monotonic() - t0
    params = {"topics": [topic], "interval": 1.0, "mirrormaker2": {
        "connect_url": url, "connector_prefix": prefix, "tasks_max": tasks, "checkpoints": False}}
    deadline = Deadline(timeout)
    source = Cluster(options(clusters["source"]), "source", deadline)
    target = Cluster(options(clusters["target"]), "target", deadline)
    out = {"mb": mb, "records": records, "record_size": record_size, "partitions": partitions, "tasks_max": tasks,
           "produce_s": round(produced_s, 1)}
    try:
        t0 = time.monotonic()
        res = mm2.run_mirrormaker2(params, source, target, deadline)
        t_running = time.monotonic()
        out["deploy_to_running_s"] = round(t_running - t0, 1)
        out["exactly_once"] = res["exactly_once"]
        rss = 0
        while True:
            opts = mm2.mm2_options(params)
            client = mm2.ConnectClient(url, deadline=deadline)
            lag = mm2.measure_lag(client, source, prefix + "-source", opts, [topic], [])
            rss = max(rss, _rss_mb(worker_pid))
            if lag and lag["total"] == 0:
                break
            if deadline.expired:
                raise RuntimeError("MirrorMaker 2 did not catch up within %ss (lag %s)" % (timeout, lag and lag["total"]))
            time.sleep(1)
        elapsed = time.monotonic() - t0
        out.update(copy_s=round(elapsed, 1), mb_per_s=round(mb / elapsed, 1),
                   mb_per_s_once_running=round(mb / max(time.monotonic() - t_running, 0.001), 1),
                   worker_rss_mb=rss or None)
    finally:
        params["mirrormaker2"]["state"] = "absent"
        mm2.run_mirrormaker2(params, source, target, Deadline(60))
        for admin in admins.values():
            for fut in admin.delete_topics([topic], request_timeout=30).values():
                try:
                    fut.result(30)
                except Exception:  # noqa: BLE001 - target topic may not exist when the copy failed early
                    pass
    return out


def _rss_mb(pid) -> int:
    try:
        with open("/proc/%d/status" % pid) as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
    except (OSError, TypeError, ValueError):
        pass
    return 0


def _clusters_file() -> str:
    return os.environ.get("KAFKAOPS_CLUSTERS_FILE",
                          os.path.join(kafka_harness.DEFAULT_WORKDIR, "clusters.json"))


def _read_json(path: str):
    """The worker file's content, or None when it is missing or unreadable."""
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--workdir", default=os.environ.get("KAFKAOPS_CONNECT_DIR", DEFAULT_WORKDIR))
    ap.add_argument("--port", type=int, default=int(os.environ.get("KAFKAOPS_CONNECT_PORT", DEFAULT_PORT)))
    ap.add_argument("--heap", default="384m")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("install")
    up = sub.add_parser("up")
    up.add_argument("--detach", action="store_true")
    sub.add_parser("status")
    sub.add_parser("down")
    run = sub.add_parser("run")
    run.add_argument("command", nargs=argparse.REMAINDER)
    bn = sub.add_parser("bench", help="measure MirrorMaker 2 throughput on a running worker (see `up`)")
    bn.add_argument("--mb", type=int, default=100)
    bn.add_argument("--partitions", type=int, default=6)
    bn.add_argument("--tasks", type=int, default=4)
    bn.add_argument("--record-size", type=int, default=1024)
    args = ap.parse_args(argv)
    cfile = os.path.join(args.workdir, "connect.json")

    if args.cmd == "install":
        install()
        return 0
    if args.cmd == "status":
        desc = _read_json(cfile)
        info = worker_alive(desc["url"]) if desc else None
        print(json.dumps(dict(desc, worker=info), indent=2) if info else "not running (%s)" % cfile)
        return 0 if info else 1
    if args.cmd == "bench":
        desc = _read_json(cfile)
        if desc is None:
            print("no worker running (%s); start one with `up --detach`" % cfile)
            return 1
        clusters = kafka_harness.clusters_alive(_clusters_file())
        if clusters is None or not worker_alive(desc["url"]):
            print("the clusters or the worker do not answer")
            return 1
        out = bench(desc["url"], clusters, mb=args.mb, partitions=args.partitions, tasks=args.tasks,
                    record_size=args.record_size, worker_pid=desc.get("pid"))
        print(json.dumps(out, indent=2))
        return 0
    if args.cmd == "down":
        desc = _read_json(cfile)
        if desc is None:
            print("nothing to stop (%s missing)" % cfile)
            return 0
        kafka_harness.terminate([desc["pid"]], grace=30)
        clusters = kafka_harness.clusters_alive(_clusters_file())
        if clusters:
            delete_internal_topics(clusters["target"], desc["internal_topics"])
        os.unlink(cfile)
        print("stopped Connect worker %d" % desc["pid"])
        return 0

    clusters = kafka_harness.clusters_alive(_clusters_file())
    if clusters is None:
        print("the Kafka clusters are not running (%s); start them with kafka_harness.py up" % _clusters_file())
        return 1
    worker = ConnectWorker(clusters["target"], workdir=args.workdir, port=args.port, heap=args.heap)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(130))
    t0 = time.monotonic()
    try:
        desc = worker.start()
        print("connect: worker ready in %.1fs at %s" % (time.monotonic() - t0, worker.url), flush=True)
        if args.cmd == "up":
            if args.detach:
                atexit.unregister(worker.stop)
                worker.popen = None  # detached: `down` stops it
                print(json.dumps(desc, indent=2))
                return 0
            while True:
                time.sleep(3600)
        cmd = [c for c in args.command if c != "--"]
        if not cmd:
            ap.error("run needs a command")
        return subprocess.call(cmd, env=dict(os.environ, KAFKAOPS_CONNECT_URL=worker.url))
    finally:
        worker.stop()


if __name__ == "__main__":
    sys.exit(main())
