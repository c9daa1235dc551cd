"""Real Apache Kafka clusters for tests, the demo and benchmarks, built from Maven Central jars.

Two clusters, like a migration meets them:

* ``source``: Apache Kafka 3.9.2 on ZooKeeper, 3 brokers, PLAINTEXT listener (the self-managed
  cluster users leave behind), ACLs stored in ZooKeeper (AclAuthorizer; resources without ACLs are
  open, ``User:ANONYMOUS`` is a super user).
* ``target``: Apache Kafka 4.4.0 in KRaft mode, SASL_PLAINTEXT with SCRAM-SHA-512 (credentials
  added at format time), like a managed service, with KRaft ACLs (StandardAuthorizer; ``User:admin``
  is a super user, resources without ACLs are open). Node 0 is broker and controller, the other nodes
  are brokers only. Each target broker also has two TLS listeners, like a managed service's public
  endpoints: ``SASL_SSL`` (the same SCRAM user) and ``SSL`` with ``ssl.client.auth=required`` (mutual
  TLS; the client certificate's DN ``CN=kafkaops-client`` is the principal, a super user). The
  SASL_PLAINTEXT listener stays the inter-broker one and the target's default in the clusters file.

Ports (``--base-port`` B shifts them all; the defaults are for B = 19000)::

    B+91+i    source broker i, PLAINTEXT            B+181     source ZooKeeper
    B+191+i   target broker i, SASL_PLAINTEXT       B+201+i   target broker i, SASL_SSL
    B+211+i   target broker i, SSL (mutual TLS)     B+291     target KRaft controller (PLAINTEXT)

A start refuses to run, before it starts or wipes anything, when any of these ports is already taken
(another harness on the same ports), naming each port and what it is for.

TLS material is made with ``openssl`` (and ``keytool`` for a PKCS12 truststore) at each start, under
``<workdir>/tls/``: a test CA (``ca.pem``), the brokers' certificate (SAN ``IP:127.0.0.1``,
``DNS:localhost``) in a PKCS12 keystore, a client certificate and key for mutual TLS signed by the same
CA (``client.pem``, ``client.key``, the key also encrypted in ``client-encrypted.key``, both in
``client.p12`` for Java), a Java truststore (``truststore.p12``) and an unrelated CA (``wrong-ca.pem``)
for negative tests. Their paths and passwords are in the clusters file under ``target.tls``.

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
# TLS test material (made at each start under <workdir>/tls; loopback test clusters, not secrets).
TLS_PASSWORD = "kafkaops-tls-secret"
TLS_CLIENT_DN = "CN=kafkaops-client"
TLS_CLIENT_PRINCIPAL = "User:" + TLS_CLIENT_DN


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

    def target_sasl_ssl_port(self, i: int) -> int:
        return self.base_port + 201 + i

    def target_ssl_port(self, i: int) -> int:
        return self.base_port + 211 + i

    @property
    def tls_dir(self) -> str:
        return os.path.join(self.workdir, "tls")

    def ports(self) -> list:
        """``[(port, what it is for)]`` of every port a start listens on."""
        out = [(self.source_port(i), "source-%d PLAINTEXT" % i) for i in range(self.source_brokers)]
        out.append((self.zk_port, "source ZooKeeper"))
        for i in range(self.target_brokers):
            out += [(self.target_port(i), "target-%d SASL_PLAINTEXT" % i),
                    (self.target_sasl_ssl_port(i), "target-%d SASL_SSL" % i),
                    (self.target_ssl_port(i), "target-%d SSL" % i)]
        out.append((self.controller_port, "target KRaft controller"))
        return out

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
                "tls": self.describe_tls(),
            },
            "workdir": self.workdir,
            "logs": os.path.join(self.workdir, "logs"),
            "pid": os.getpid(),
        }

    def describe_tls(self) -> dict:
        """The target's TLS listeners and the files a client needs for them (``target.tls`` of the clusters file)."""
        d = self.tls_dir
        return {
            "sasl_ssl_bootstrap_servers": ",".join(
                "127.0.0.1:%d" % self.target_sasl_ssl_port(i) for i in range(self.target_brokers)),
            "ssl_bootstrap_servers": ",".join(
                "127.0.0.1:%d" % self.target_ssl_port(i) for i in range(self.target_brokers)),
            "ca_location": os.path.join(d, "ca.pem"),
            "wrong_ca_location": os.path.join(d, "wrong-ca.pem"),
            "client_certificate_location": os.path.join(d, "client.pem"),
            "client_key_location": os.path.join(d, "client.key"),
            "client_key_encrypted_location": os.path.join(d, "client-encrypted.key"),
            "client_key_password": TLS_PASSWORD,
            "client_principal": TLS_CLIENT_PRINCIPAL,
            "client_keystore_location": os.path.join(d, "client.p12"),
            "client_keystore_password": TLS_PASSWORD,
            "client_keystore_type": "PKCS12",
            "truststore_location": os.path.join(d, "truststore.p12"),
            "truststore_password": TLS_PASSWORD,
            "truststore_type": "PKCS12",
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
            # ACLs like a self-managed cluster keeps them (ZooKeeper); resources without ACLs stay open
            "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
            "allow.everyone.if.no.acl.found": "true",
            "super.users": "User:ANONYMOUS",
        })
        path = os.path.join(conf, "source-%d.properties" % i)
        _write(path, _props(props))
        procs.append(Proc("source-%d" % i, _java(layout, SOURCE_VERSION, "source-%d" % i, ["kafka.Kafka", path]),
                          os.path.join(w, "logs", "source-%d.out" % i)))

    # Target: KRaft, node 0 broker+controller, others brokers, SASL/SCRAM-SHA-512.
    jaas = ('org.apache.kafka.common.security.scram.ScramLoginModule required '
            'username="%s" password="%s";' % (TARGET_USER, TARGET_PASSWORD))
    tls = os.path.join(w, "tls")
    for i in range(layout.target_brokers):
        props = _common_broker(layout, layout.target_brokers)
        advertised = ("SASL_PLAINTEXT://127.0.0.1:%d,SASL_SSL://127.0.0.1:%d,SSL://127.0.0.1:%d"
                      % (layout.target_port(i), layout.target_sasl_ssl_port(i), layout.target_ssl_port(i)))
        listeners = advertised
        if i == 0:
            listeners += ",CONTROLLER://127.0.0.1:%d" % layout.controller_port
        props.update({
            "process.roles": "broker,controller" if i == 0 else "broker",
            "node.id": i,
            "controller.quorum.voters": "0@127.0.0.1:%d" % layout.controller_port,
            "controller.listener.names": "CONTROLLER",
            "listeners": listeners,
            "advertised.listeners": advertised,
            "listener.security.protocol.map":
                "SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": TARGET_MECHANISM,
            "sasl.mechanism.inter.broker.protocol": TARGET_MECHANISM,
            "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": jaas,
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": jaas,
            # TLS listeners: one broker certificate (SAN 127.0.0.1, localhost) for both; SSL requires a
            # client certificate
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": os.path.join(tls, "broker.p12"),
            "ssl.keystore.password": TLS_PASSWORD,
            "ssl.key.password": TLS_PASSWORD,
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": os.path.join(tls, "ca.pem"),
            "listener.name.ssl.ssl.client.auth": "required",
            "log.dirs": os.path.join(w, "data", "target-%d" % i),
            "broker.rack": "zone-%d" % i,
            # KRaft ACLs; the admin user, the mutual-TLS client and the controller listener (ANONYMOUS) are super users
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "true",
            "super.users": "User:%s;%s;User:ANONYMOUS" % (TARGET_USER, TLS_CLIENT_PRINCIPAL),
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
            "kafka.tools.StorageTool", "format", "--cluster-id=" + cluster_id,  # an id may start with "-"
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


def make_tls(layout: Layout) -> dict:
    """Make the test CA, the brokers' and the client's certificates and the wrong CA under ``<workdir>/tls``.

    Returns the target's ``tls`` entry of the clusters file. Every file is made fresh at each start."""
    d = layout.tls_dir
    os.makedirs(d, exist_ok=True)

    def path(name):
        return os.path.join(d, name)

    def openssl(*args):
        proc = subprocess.run(["openssl", *args], cwd=d, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, check=False, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError("openssl %s failed (rc %d): %s" % (args[0], proc.returncode, proc.stdout.strip()))

    def ca(name, cn):
        openssl("req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "30",
                "-keyout", path(name + ".key"), "-out", path(name + ".pem"), "-subj", "/CN=" + cn,
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                "-addext", "subjectKeyIdentifier=hash")

    def leaf(name, cn, ext):
        _write(path(name + ".ext"), "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
               "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n" + ext)
        openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", path(name + ".key"),
                "-out", path(name + ".csr"), "-subj", "/" + cn)
        openssl("x509", "-req", "-in", path(name + ".csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
                "-set_serial", str(int(uuid.uuid4().hex[:15], 16)), "-sha256", "-days", "30",
                "-extfile", path(name + ".ext"), "-out", path(name + ".pem"))

    ca("ca", "kafkaops test CA")
    ca("wrong-ca", "kafkaops unrelated CA")
    leaf("broker", "CN=localhost",
         "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
    leaf("client", TLS_CLIENT_DN, "extendedKeyUsage=clientAuth\n")
    # brokers: key + certificate + CA in a PKCS12 keystore; client: the same for Java, and its key encrypted
    for name in ("broker", "client"):
        openssl("pkcs12", "-export", "-in", path(name + ".pem"), "-inkey", path(name + ".key"),
                "-certfile", path("ca.pem"), "-name", name, "-passout", "pass:" + TLS_PASSWORD,
                "-out", path(name + ".p12"))
    openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", path("client.key"), "-passout", "pass:" + TLS_PASSWORD,
            "-out", path("client-encrypted.key"))
    # a Java truststore holding the CA (OpenSSL 3.0 cannot mark a PKCS12 entry as trusted for Java: keytool)
    proc = subprocess.run(["keytool", "-importcert", "-noprompt", "-alias", "kafkaops-ca", "-file", path("ca.pem"),
                           "-keystore", path("truststore.p12"), "-storetype", "PKCS12", "-storepass", TLS_PASSWORD],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError("keytool -importcert failed (rc %d): %s" % (proc.returncode, proc.stdout.strip()))
    for name in os.listdir(d):
        if name.endswith((".csr", ".ext")):
            os.unlink(path(name))
        else:
            os.chmod(path(name), 0o600 if name.endswith((".key", ".p12")) else 0o644)
    return layout.describe_tls()


def _kraft_uuid() -> str:
    import base64
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _port_taken(port: int) -> bool:
    """Something listens on 127.0.0.1:``port``, or holds it so that a broker could not bind it."""
    if _port_open(port):
        return True
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the JVM binds: a TIME_WAIT socket is no obstacle
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


class PortsInUse(RuntimeError):
    """A port the harness would listen on is taken; nothing was started."""


def check_ports(layout: Layout) -> None:
    """Raise :class:`PortsInUse` naming each taken port and what it is for."""
    busy = [(port, what) for port, what in layout.ports() if _port_taken(port)]
    if not busy:
        return
    named = ", ".join("%d (%s)" % pw for pw in busy)
    raise PortsInUse(
        "port%s %s %s in use: another harness running? stop it with `python %s --workdir %s --base-port %d down` "
        "or choose another --base-port (this one, %d, uses %d-%d)"
        % ("s" if len(busy) > 1 else "", named, "are" if len(busy) > 1 else "is", os.path.relpath(__file__),
           layout.workdir, layout.base_port, layout.base_port, min(p for p, _what in layout.ports()),
           max(p for p, _what in layout.ports())))


class Clusters:
    """Start/stop the two clusters; usable as a context manager."""

    def __init__(self, layout: Layout | None = None):
        self.layout = layout or Layout()
        self.procs: list = []
        self.clusters_file = os.path.join(self.layout.workdir, "clusters.json")

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self, timeout: float = 180) -> dict:
        lay = self.layout
        check_ports(lay)                                  # before anything is wiped or started
        install()
        shutil.rmtree(lay.workdir, ignore_errors=True)   # wipe data between runs
        os.makedirs(os.path.join(lay.workdir, "logs"))
        make_tls(lay)
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
                    self._wait_tls_ready(name, cluster, deadline)
                    return
                last = "%d of %d brokers registered" % (len(md.brokers), want)
            except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
                last = str(exc)
            time.sleep(0.5)
        raise RuntimeError("%s cluster not ready before the deadline: %s (logs in %s)"
                           % (name, last, os.path.join(self.layout.workdir, "logs")))

    def _wait_tls_ready(self, name: str, cluster: dict, deadline: float) -> None:
        """Each broker's TLS listeners (when the cluster has them) answer a metadata request, the CA trusted."""
        from confluent_kafka.admin import AdminClient
        if not cluster.get("tls"):
            return
        for listener in ("sasl_ssl", "ssl"):
            for server in cluster["tls"][listener + "_bootstrap_servers"].split(","):
                conf = dict(client_config(cluster, listener), **{"bootstrap.servers": server})
                last = "no answer"
                while True:
                    self._check_alive()
                    try:
                        md = AdminClient(conf).list_topics(timeout=3)
                        if len(md.brokers) >= cluster["brokers"]:
                            break
                        last = "%d of %d brokers in its metadata" % (len(md.brokers), cluster["brokers"])
                    except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
                        last = str(exc)
                    if time.monotonic() > deadline:
                        raise RuntimeError("%s cluster: the %s listener %s did not answer before the deadline: %s "
                                           "(logs in %s)" % (name, listener.upper(), server, last,
                                                             os.path.join(self.layout.workdir, "logs")))
                    time.sleep(0.5)

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


def client_config(cluster: dict, listener: str | None = None) -> dict:
    """librdkafka config for a cluster entry of clusters.json (harness-internal use only).

    ``listener`` ``"sasl_ssl"`` or ``"ssl"`` (mutual TLS) picks one of the target's TLS listeners, with the
    test CA trusted and the hostname verified (and, for ``ssl``, the client certificate)."""
    conf = {"bootstrap.servers": cluster["bootstrap_servers"],
            "security.protocol": cluster.get("security_protocol", "PLAINTEXT"),
            "log_level": 0}
    if listener is None or listener == "sasl_ssl":
        if cluster.get("sasl_mechanism"):
            conf.update({"sasl.mechanism": cluster["sasl_mechanism"],
                         "sasl.username": cluster["sasl_username"],
                         "sasl.password": cluster["sasl_password"]})
    if listener is not None:
        tls = cluster["tls"]
        conf.update({"bootstrap.servers": tls[listener + "_bootstrap_servers"], "security.protocol": listener.upper(),
                     "ssl.ca.location": tls["ca_location"], "ssl.endpoint.identification.algorithm": "https"})
        if listener == "ssl":
            conf.update({"ssl.certificate.location": tls["client_certificate_location"],
                         "ssl.key.location": tls["client_key_location"]})
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
        check_ports(layout)
    except PortsInUse as exc:
        print("harness: %s" % exc, file=sys.stderr, flush=True)
        return 2
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
