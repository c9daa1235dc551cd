"""Real Apache Kafka clusters for tests, the demo and benchmarks, built from Maven Central jars.

Two clusters, like a migration meets them:

* ``source``: Apache Kafka 3.9.2 on ZooKeeper, 3 brokers, PLAINTEXT listener (the self-managed
  cluster users leave behind).
* ``target``: Apache Kafka 4.4.0 in KRaft mode, SASL_PLAINTEXT with SCRAM-SHA-512 (credentials
  added at format time), like a managed service. Node 0 is broker and controller, the other nodes
  are brokers only.

The Apache download site cannot be reached here, so each version's jars are copied from Maven Central
with ``mvn dependency:copy-dependencies`` (one pom per version in ``maven/``) into a cache folder and run
with ``java -cp``.

Command line (``python tests/harness/kafka_harness.py --help``)::

    install              copy the jars (idempotent)
    up [--detach]        start both clusters, wait until each answers an AdminClient call; without
                         --detach stay in the foreground and stop them on Ctrl-C
    status               print the clusters file and whether each cluster answers
    down                 stop clusters started with --detach
    run -- CMD ...       start, run CMD with KAFKAOPS_CLUSTERS_FILE set, stop (always)

Every start wipes the data folder first: data lives for one run, not between tests. The clusters'
connection details are written as JSON to ``<workdir>/clusters.json``; tests read that file through
the ``KAFKAOPS_CLUSTERS_FILE`` environment variable and reuse running clusters when it points at them.
Logs go to ``<workdir>/logs/<process>.log``.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_VERSION = "3.9.2"
TARGET_VERSION = "4.4.0"
DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "kafkaops-migration")
DEFAULT_WORKDIR = os.path.join(os.environ.get("TMPDIR", "/tmp"), "kafkaops-harness")
# The target's SCRAM credentials (a test cluster on loopback; not a secret).
TARGET_USER = "admin"
TARGET_PASSWORD = "admin-secret"
TARGET_MECHANISM = "SCRAM-SHA-512"


def cache_dir() -> str:
    return os.environ.get("KAFKAOPS_KAFKA_CACHE", DEFAULT_CACHE)


def libs_dir(version: str) -> str:
    return os.path.join(cache_dir(), "kafka-%s" % version, "libs")


def install(versions=(SOURCE_VERSION, TARGET_VERSION), extra_poms=()) -> None:
    """Copy each version's jars from Maven Central into the cache (skipped when already there)."""
    poms = [os.path.join(HERE, "maven", "kafka-%s" % v) for v in versions] + list(extra_poms)
    for pom_dir in poms:
        name = os.path.basename(pom_dir)
        out = os.path.join(cache_dir(), name, "libs")
        marker = os.path.join(out, ".complete")
        if os.path.exists(marker):
            continue
        os.makedirs(out, exist_ok=True)
        print("harness: copying %s jars from Maven Central into %s" % (name, out), flush=True)
        subprocess.run(
            ["mvn", "-q", "-B", "dependency:copy-dependencies", "-DoutputDirectory=" + out],
            cwd=pom_dir, check=True,
        )
        with open(marker, "w") as fh:
            fh.write("ok\n")


@dataclass
class Proc:
    name: str
    argv: list
    log: str
    popen: subprocess.Popen | None = None


@dataclass
class Layout:
    """Ports and folders for one harness instance; ``base_port`` shifts all of them."""

    workdir: str = DEFAULT_WORKDIR
    base_port: int = 19000
    source_brokers: int = 3
    target_brokers: int = 2
    heap: str = "384m"
    procs: list = field(default_factory=list)

    @property
    def zk_port(self) -> int:
        return self.base_port + 181

    def source_port(self, i: int) -> int:
        return self.base_port + 91 + i

    def target_port(self, i: int) -> int:
        return self.base_port + 191 + i

    @property
    def controller_port(self) -> int:
        return self.base_port + 291

    def describe(self) -> dict:
        return {
            "source": {
                "version": SOURCE_VERSION,
                "mode": "zookeeper",
                "brokers": self.source_brokers,
                "bootstrap_servers": ",".join(
                    "127.0.0.1:%d" % self.source_port(i) for i in range(self.source_brokers)
                ),
                "security_protocol": "PLAINTEXT",
            },
            "target": {
                "version": TARGET_VERSION,
                "mode": "kraft",
                "brokers": self.target_brokers,
                "bootstrap_servers": ",".join(
                    "127.0.0.1:%d" % self.target_port(i) for i in range(self.target_brokers)
                ),
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": TARGET_MECHANISM,
                "sasl_username": TARGET_USER,
                "sasl_password": TARGET_PASSWORD,
            },
            "workdir": self.workdir,
            "logs": os.path.join(self.workdir, "logs"),
            "pid": os.getpid(),
        }


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)


def _props(d: dict) -> str:
    return "".join("%s=%s\n" % (k, v) for k, v in d.items())


LOG4J1 = """log4j.rootLogger=INFO, file
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.org.apache.zookeeper=WARN
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=${kafkaops.log.file}
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
"""

LOG4J2 = """status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafkaops.log.file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


def _java(layout: Layout, version: str, name: str, main: list, heap: str | None = None) -> list:
    log = os.path.join(layout.workdir, "logs", "%s.log" % name)
    conf = os.path.join(layout.workdir, "conf")
    if version.startswith("3."):
        logopt = ["-Dlog4j.configuration=file:" + os.path.join(conf, "log4j.properties")]
    else:
        logopt = ["-Dlog4j2.configurationFile=" + os.path.join(conf, "log4j2.properties")]
    return [
        "java",
        "-Xms64m",
        "-Xmx" + (heap or layout.heap),
        "-XX:+UseSerialGC",
        "-XX:MaxMetaspaceSize=192m",
        "-Djava.awt.headless=true",
        "-Dkafkaops.log.file=" + log,
        *logopt,
        "-cp",
        os.path.join(libs_dir(version), "*"),
        *main,
    ]


def _common_broker(layout: Layout, n: int) -> dict:
    rf = min(3, n)
    return {
        "num.partitions": 1,
        "default.replication.factor": 1,
        "offsets.topic.replication.factor": rf,
        "offsets.topic.num.partitions": 10,
        "transaction.state.log.replication.factor": rf,
        "transaction.state.log.min.isr": 1,
        "transaction.state.log.num.partitions": 5,
        "group.initial.rebalance.delay.ms": 0,
        "auto.create.topics.enable": "false",
        "delete.topic.enable": "true",
        "log.segment.bytes": 64 * 1024 * 1024,
        "num.network.threads": 2,
        "num.io.threads": 4,
        "log.cleaner.threads": 1,
        "log.cleaner.dedupe.buffer.size": 8 * 1024 * 1024,
        "num.recovery.threads.per.data.dir": 1,
        "socket.request.max.bytes": 104857600,
    }


def configure(layout: Layout) -> list:
    """Write every config file and return the processes to start (ZooKeeper first)."""
    w = layout.workdir
    conf = os.path.join(w, "conf")
    _write(os.path.join(conf, "log4j.properties"), LOG4J1)
    _write(os.path.join(conf, "log4j2.properties"), LOG4J2)
    procs = []

    # Source: ZooKeeper + N brokers (Kafka 3.9).
    zk_data = os.path.join(w, "data", "zookeeper")
    os.makedirs(zk_data, exist_ok=True)
    _write(os.path.join(conf, "zookeeper.properties"), _props({
        "dataDir": zk_data,
        "clientPort": layout.zk_port,
        "clientPortAddress": "127.0.0.1",
        "maxClientCnxns": 0,
        "admin.enableServer": "false",
        "4lw.commands.whitelist": "ruok",
    }))
    procs.append(Proc("source-zookeeper", _java(
        layout, SOURCE_VERSION, "source-zookeeper",
        ["org.apache.zookeeper.server.quorum.QuorumPeerMain", os.path.join(conf, "zookeeper.properties")],
        heap="128m"), os.path.join(w, "logs", "source-zookeeper.out")))
    for i in range(layout.source_brokers):
        props = _common_broker(layout, layout.source_brokers)
        props.update({
            "broker.id": i,
            "zookeeper.connect": "127.0.0.1:%d/kafka" % layout.zk_port,
            "zookeeper.connection.timeout.ms": 30000,
            "listeners": "PLAINTEXT://127.0.0.1:%d" % layout.source_port(i),
            "advertised.listeners": "PLAINTEXT://127.0.0.1:%d" % layout.source_port(i),
            "log.dirs": os.path.join(w, "data", "source-%d" % i),
            "broker.rack": "rack-%d" % i,
        })
        path = os.path.join(conf, "source-%d.properties" % i)
        _write(path, _props(props))
        procs.append(Proc("source-%d" % i, _java(layout, SOURCE_VERSION, "source-%d" % i, ["kafka.Kafka", path]),
                          os.path.join(w, "logs", "source-%d.out" % i)))

    # Target: KRaft, node 0 broker+controller, others brokers, SASL/SCRAM-SHA-512.
    jaas = ('org.apache.kafka.common.security.scram.ScramLoginModule required '
            'username="%s" password="%s";' % (TARGET_USER, TARGET_PASSWORD))
    for i in range(layout.target_brokers):
        props = _common_broker(layout, layout.target_brokers)
        listeners = "SASL_PLAINTEXT://127.0.0.1:%d" % layout.target_port(i)
        if i == 0:
            listeners += ",CONTROLLER://127.0.0.1:%d" % layout.controller_port
        props.update({
            "process.roles": "broker,controller" if i == 0 else "broker",
            "node.id": i,
            "controller.quorum.voters": "0@127.0.0.1:%d" % layout.controller_port,
            "controller.listener.names": "CONTROLLER",
            "listeners": listeners,
            "advertised.listeners": "SASL_PLAINTEXT://127.0.0.1:%d" % layout.target_port(i),
            "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": TARGET_MECHANISM,
            "sasl.mechanism.inter.broker.protocol": TARGET_MECHANISM,
            "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": jaas,
            "log.dirs": os.path.join(w, "data", "target-%d" % i),
            "broker.rack": "zone-%d" % i,
        })
        path = os.path.join(conf, "target-%d.properties" % i)
        _write(path, _props(props))
        procs.append(Proc("target-%d" % i, _java(layout, TARGET_VERSION, "target-%d" % i, ["kafka.Kafka", path]),
                          os.path.join(w, "logs", "target-%d.out" % i)))
    return procs


def format_target(layout: Layout) -> None:
    """Format every target node's storage with one cluster id and the SCRAM user."""
    cluster_id = _kraft_uuid()
    conf = os.path.join(layout.workdir, "conf")
    cmds = []
    for i in range(layout.target_brokers):
        argv = _java(layout, TARGET_VERSION, "target-%d-format" % i, [
            "kafka.tools.StorageTool", "format", "-t", cluster_id,
            "-c", os.path.join(conf, "target-%d.properties" % i),
            "--add-scram", "%s=[name=%s,password=%s]" % (TARGET_MECHANISM, TARGET_USER, TARGET_PASSWORD),
        ], heap="128m")
        out = open(os.path.join(layout.workdir, "logs", "target-%d-format.out" % i), "w")
        cmds.append((subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT), out, i))
    for p, out, i in cmds:
        rc = p.wait(timeout=120)
        out.close()
        if rc != 0:
            raise RuntimeError("formatting target node %d failed (rc %d), see %s" % (i, rc, out.name))


def _kraft_uuid() -> str:
    import base64
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Clusters:
    """Start/stop the two clusters; usable as a context manager."""

    def __init__(self, layout: Layout | None = None):
        self.layout = layout or Layout()
        self.procs: list = []
        self.clusters_file = os.path.join(self.layout.workdir, "clusters.json")

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self, timeout: float = 180) -> dict:
        lay = self.layout
        busy = [p for p in [lay.zk_port, lay.controller_port]
                + [lay.source_port(i) for i in range(lay.source_brokers)]
                + [lay.target_port(i) for i in range(lay.target_brokers)] if _port_open(p)]
        if busy:
            raise RuntimeError("ports already in use: %s (another harness running? use --base-port)" % busy)
        install()
        shutil.rmtree(lay.workdir, ignore_errors=True)   # wipe data between runs
        os.makedirs(os.path.join(lay.workdir, "logs"))
        procs = configure(lay)
        format_target(lay)
        atexit.register(self.stop)
        # ZooKeeper first (brokers retry, but give it a head start), then all brokers in parallel.
        self._spawn(procs[0])
        self._wait_port(lay.zk_port, 60, "source ZooKeeper")
        for p in procs[1:]:
            self._spawn(p)
        desc = lay.describe()
        deadline = time.monotonic() + timeout
        for name in ("source", "target"):
            self._wait_ready(name, desc[name], deadline)
        _write(self.clusters_file, json.dumps(desc, indent=2))
        return desc

    def _spawn(self, proc: Proc) -> None:
        out = open(proc.log, "w")
        proc.popen = subprocess.Popen(proc.argv, stdout=out, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        self.procs.append(proc)

    def _check_alive(self) -> None:
        for p in self.procs:
            rc = p.popen.poll()
            if rc is not None:
                tail = ""
                try:
                    with open(p.log) as fh:
                        tail = "".join(fh.readlines()[-15:])
                except OSError:
                    pass
                raise RuntimeError("%s exited with %s during start-up; last output:\n%s" % (p.name, rc, tail))

    def _wait_port(self, port: int, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self._check_alive()
            if _port_open(port):
                return
            time.sleep(0.2)
        raise RuntimeError("%s did not open port %d within %ss" % (what, port, timeout))

    def _wait_ready(self, name: str, cluster: dict, deadline: float) -> None:
        """Ready = an AdminClient sees every broker and can create + delete a topic."""
        from confluent_kafka.admin import AdminClient, NewTopic
        conf = client_config(cluster)
        want = cluster["brokers"]
        last = "no answer"
        while time.monotonic() < deadline:
            self._check_alive()
            admin = AdminClient(conf)
            try:
                md = admin.list_topics(timeout=3)
                if len(md.brokers) >= want:
                    probe = "__harness_probe_%s" % uuid.uuid4().hex[:8]
                    admin.create_topics([NewTopic(probe, 1, min(want, 3))])[probe].result(timeout=20)
                    admin.delete_topics([probe])[probe].result(timeout=20)
                    return
                last = "%d of %d brokers registered" % (len(md.brokers), want)
            except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
                last = str(exc)
            time.sleep(0.5)
        raise RuntimeError("%s cluster not ready before the deadline: %s (logs in %s)"
                           % (name, last, os.path.join(self.layout.workdir, "logs")))

    def stop(self) -> None:
        """Stop brokers before ZooKeeper/controller; SIGTERM, then SIGKILL after a grace period."""
        if not self.procs:
            return
        terminate([p.popen for p in reversed(self.procs) if p.popen], grace=20)
        self.procs = []
        try:
            os.unlink(self.clusters_file)
        except OSError:
            pass

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


def terminate(procs: list, grace: float) -> None:
    """SIGTERM each process group (``Popen`` objects or pids), wait up to ``grace`` s for all, SIGKILL the rest."""
    def running(p):
        return p.poll() is None if isinstance(p, subprocess.Popen) else _alive(p)

    def pid(p):
        return p.pid if isinstance(p, subprocess.Popen) else p

    procs = [p for p in procs if running(p)]
    for p in procs:
        _signal_group(pid(p), signal.SIGTERM)
    end = time.monotonic() + grace
    for p in procs:
        while running(p) and time.monotonic() < end:
            time.sleep(0.2)
        if running(p):
            _signal_group(pid(p), signal.SIGKILL)
        if isinstance(p, subprocess.Popen):
            p.wait()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def client_config(cluster: dict) -> dict:
    """librdkafka config for a cluster entry of clusters.json (harness-internal use only)."""
    conf = {"bootstrap.servers": cluster["bootstrap_servers"],
            "security.protocol": cluster.get("security_protocol", "PLAINTEXT"),
            "log_level": 0}
    if cluster.get("sasl_mechanism"):
        conf.update({"sasl.mechanism": cluster["sasl_mechanism"],
                     "sasl.username": cluster["sasl_username"],
                     "sasl.password": cluster["sasl_password"]})
    return conf


def clusters_alive(path: str) -> dict | None:
    """The clusters described by ``path`` when both answer, else None."""
    try:
        with open(path) as fh:
            desc = json.load(fh)
    except (OSError, ValueError):
        return None
    from confluent_kafka.admin import AdminClient
    for name in ("source", "target"):
        try:
            md = AdminClient(client_config(desc[name])).list_topics(timeout=5)
            if len(md.brokers) < desc[name]["brokers"]:
                return None
        except Exception:  # noqa: BLE001
            return None
    return desc


# -- command line ----------------------------------------------------------------------------------
def _layout_from_args(args) -> Layout:
    return Layout(workdir=args.workdir, base_port=args.base_port,
                  source_brokers=args.source_brokers, target_brokers=args.target_brokers, heap=args.heap)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--workdir", default=os.environ.get("KAFKAOPS_HARNESS_DIR", DEFAULT_WORKDIR))
    ap.add_argument("--base-port", type=int, default=int(os.environ.get("KAFKAOPS_HARNESS_BASE_PORT", 19000)))
    ap.add_argument("--source-brokers", type=int, default=3)
    ap.add_argument("--target-brokers", type=int, default=2)
    ap.add_argument("--heap", default=os.environ.get("KAFKAOPS_HARNESS_HEAP", "384m"))
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("install")
    up = sub.add_parser("up")
    up.add_argument("--detach", action="store_true")
    sub.add_parser("status")
    sub.add_parser("down")
    run = sub.add_parser("run")
    run.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    layout = _layout_from_args(args)
    cfile = os.path.join(layout.workdir, "clusters.json")

    if args.cmd == "install":
        install()
        return 0
    if args.cmd == "status":
        desc = clusters_alive(cfile)
        print(json.dumps(desc, indent=2) if desc else "not running (%s)" % cfile)
        return 0 if desc else 1
    if args.cmd == "down":
        return _down(layout)

    clusters = Clusters(layout)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(130))
    t0 = time.monotonic()
    try:
        desc = clusters.start()
        print("harness: both clusters ready in %.1fs; clusters file %s" % (time.monotonic() - t0, cfile), flush=True)
        if args.cmd == "up":
            if args.detach:
                _write(os.path.join(layout.workdir, "pids.json"),
                       json.dumps([p.popen.pid for p in clusters.procs]))
                atexit.unregister(clusters.stop)
                clusters.procs = []  # detached: they outlive this process; `down` stops them
                print(json.dumps(desc, indent=2))
                return 0
            while True:
                time.sleep(3600)
        cmd = [c for c in args.command if c != "--"]
        if not cmd:
            ap.error("run needs a command")
        env = dict(os.environ, KAFKAOPS_CLUSTERS_FILE=cfile)
        return subprocess.call(cmd, env=env)
    finally:
        clusters.stop()


def _down(layout: Layout) -> int:
    path = os.path.join(layout.workdir, "pids.json")
    try:
        with open(path) as fh:
            pids = json.load(fh)
    except (OSError, ValueError):
        print("nothing to stop (%s missing)" % path)
        return 0
    terminate(list(reversed(pids)), grace=20)
    for f in (path, os.path.join(layout.workdir, "clusters.json")):
        try:
            os.unlink(f)
        except OSError:
            pass
    print("stopped %d processes" % len(pids))
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


if __name__ == "__main__":
    sys.exit(main())
