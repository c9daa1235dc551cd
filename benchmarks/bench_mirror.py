#!/usr/bin/env python
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Throughput and memory of kafka_mirror's built-in engine against MirrorMaker 2 and a raw loop.

One run, one data set (``--gb`` GB over ``--topics`` topics on the source, RF 1, unique prefix), three
copies to the target:

raw       a bare confluent-kafka consume -> produce loop (same client settings, no transactions, no
          delivery reports, no progress): the client-side limit of a Python copier.
builtin   ``kafka_mirror`` engine builtin, mode snapshot, run as its own process (``mirror.cli_main``).
mm2       MirrorMaker 2 (MirrorSourceConnector, exactly-once when the worker allows it) on a Kafka
          Connect worker started by ``tests/harness/connect_harness.py`` (skipped when that file is
          absent or with ``--no-mm2``), deployed through the collection's own mm2 engine.

For each: records, MB (keys + values, 10^6 bytes), wall seconds from start to the last record copied
(process start included), MB/s, and peak RSS of the copying process (``ru_maxrss`` of the child;
the worker JVM's ``VmHWM`` for MM2). Every topic the benchmark created is deleted at the end.

    python benchmarks/bench_mirror.py --gb 0.2          # quick
    python benchmarks/bench_mirror.py                   # 2 GB (loads the machine for minutes)
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import random
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests", "harness"))

from tests.utils.collection import collections_root  # noqa: E402

sys.path.insert(0, collections_root())

from confluent_kafka import KafkaError, TopicPartition  # noqa: E402
from confluent_kafka.admin import NewTopic  # noqa: E402

from ansible_collections.kafkaops.migration.plugins.module_utils.connection import Cluster  # noqa: E402

DEFAULT_CLUSTERS = "/tmp/kafkaops-harness/clusters.json"


def options(cluster):
    keys = ("security_protocol", "sasl_mechanism", "sasl_username", "sasl_password")
    opts = dict((k, cluster[k]) for k in keys if cluster.get(k))
    opts["bootstrap_servers"] = cluster["bootstrap_servers"].split(",")
    return opts


# Client settings shared by the raw loop and the built-in engine (mirror.Copier uses the same values).
CONSUMER_CONF = {"isolation.level": "read_committed", "enable.partition.eof": True, "auto.offset.reset": "error",
                 "queued.max.messages.kbytes": 32768, "fetch.max.bytes": 16 * 1024 * 1024,
                 "max.partition.fetch.bytes": 1048576, "fetch.wait.max.ms": 100}
PRODUCER_CONF = {"enable.idempotence": True, "acks": "all", "linger.ms": 20, "batch.size": 1000000,
                 "queue.buffering.max.kbytes": 131072, "queue.buffering.max.messages": 1000000}


# -- topics ---------------------------------------------------------------------------------------
def create_topics(cluster, names, partitions, config=None):
    if not names:
        return
    deadline = time.monotonic() + 120
    pending = list(names)
    while pending:
        futures = cluster.admin.create_topics([NewTopic(n, partitions, 1, config=config or {}) for n in pending])
        retry = []
        for name, fut in futures.items():
            try:
                fut.result(60)
            except Exception as exc:  # a topic of the same name still being deleted: try again
                if "TOPIC_ALREADY_EXISTS" in str(exc) or "marked for deletion" in str(exc):
                    retry.append(name)
                else:
                    raise
        if retry and time.monotonic() > deadline:
            raise RuntimeError("topics %s could not be created" % retry)
        pending = retry
        if pending:
            time.sleep(1)
    while time.monotonic() < deadline:
        md = cluster.admin.list_topics(timeout=10)
        if all(n in md.topics and md.topics[n].error is None and len(md.topics[n].partitions) == partitions
               for n in names):
            return
        time.sleep(0.2)
    raise RuntimeError("topics not visible: %s" % names)


def delete_topics(cluster, names, wait=False):
    existing = set(cluster.admin.list_topics(timeout=10).topics)
    names = [n for n in names if n in existing]
    if not names:
        return
    for fut in cluster.admin.delete_topics(names, operation_timeout=30).values():
        try:
            fut.result(60)
        except Exception as exc:
            print("  warning: delete failed: %s" % exc, file=sys.stderr)
    deadline = time.monotonic() + 60
    while wait and time.monotonic() < deadline:
        if not set(names) & set(cluster.admin.list_topics(timeout=10).topics):
            return
        time.sleep(0.5)


def produce_data(source, topics, partitions, total_bytes, record_bytes, seed=1):
    """Keyed records with one header and incompressible values; returns (records, bytes)."""
    rnd = random.Random(seed)
    pool = bytes(rnd.getrandbits(8) for i in range(1 << 20)) * 2
    producer = source.producer(**{"linger.ms": 50, "batch.size": 1000000, "queue.buffering.max.kbytes": 262144})
    n = nbytes = 0
    ts = int(time.time() * 1000) - 3600 * 1000
    while nbytes < total_bytes:
        topic = topics[n % len(topics)]
        key = b"key-%010d" % n
        off = rnd.randrange(0, 1 << 20)
        value = pool[off:off + record_bytes]
        while True:
            try:
                producer.produce(topic, value, key, partition=(n // len(topics)) % partitions, timestamp=ts + n // 100,
                                 headers=[("seq", b"%d" % n)])
                break
            except BufferError:
                producer.poll(0.05)
        n += 1
        nbytes += len(key) + len(value)
        if n % 10000 == 0:
            producer.poll(0)
    if producer.flush(300):
        raise RuntimeError("producing the benchmark data did not finish")
    return n, nbytes


def end_offsets(cluster, topics, partitions):
    consumer = cluster.consumer()
    try:
        return dict(((t, p), consumer.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1])
                    for t in topics for p in range(partitions))
    finally:
        consumer.close()


# -- the workers (run as child processes so that their peak RSS is theirs alone) --------------------
def raw_worker(conf):
    source = Cluster(conf["source"], "source")
    target = Cluster(conf["target"], "target")
    rename = conf["rename"]
    ends = dict(((t, int(p)), e) for t, p, e in conf["ends"])
    consumer = source.consumer(group_id="kafkaops-bench-raw", **CONSUMER_CONF)
    producer = target.producer(**PRODUCER_CONF)
    t0 = time.monotonic()
    pending = set(k for k, e in ends.items() if e > 0)
    consumer.assign([TopicPartition(t, p, 0) for t, p in sorted(pending)])
    n = nbytes = 0
    produce = producer.produce
    while pending:
        for m in consumer.consume(10000, timeout=0.2):
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise RuntimeError(m.error().str())
            key, value = m.key(), m.value()
            kwargs = {"partition": m.partition(), "timestamp": m.timestamp()[1]}
            headers = m.headers()
            if headers:
                kwargs["headers"] = headers
            while True:
                try:
                    produce(rename[m.topic()], value, key, **kwargs)
                    break
                except BufferError:
                    producer.poll(0.05)
            n += 1
            nbytes += len(key or b"") + len(value or b"")
            if m.offset() + 1 >= ends[(m.topic(), m.partition())]:
                pending.discard((m.topic(), m.partition()))
        producer.poll(0)
    if producer.flush(300):
        raise RuntimeError("raw loop: records not acknowledged")
    consumer.close()
    return {"records": n, "bytes": nbytes, "seconds": time.monotonic() - t0}


def run_child(argv, env=None):
    """Run a child to completion; return (stdout, wall seconds, peak RSS in MB, CPU seconds)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env, text=True)
    out = proc.stdout.read()
    status, usage = os.wait4(proc.pid, 0)[1:]
    wall = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%s): %s" % (argv[:3], proc.returncode, out[-2000:]))
    return out, wall, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime


def run_raw(conf_path):
    out, wall, rss, cpu = run_child([sys.executable, os.path.abspath(__file__), "--worker", "raw", conf_path])
    res = json.loads(out.strip().splitlines()[-1])
    return {"records": res["records"], "bytes": res["bytes"], "wall": wall, "copy": res["seconds"], "rss_mb": rss,
            "cpu": cpu}


def run_builtin(conf_path):
    code = ("import sys; from ansible_collections.kafkaops.migration.plugins.module_utils.mirror import cli_main; "
            "sys.exit(cli_main())")
    env = dict(os.environ, PYTHONPATH=collections_root())
    out, wall, rss, cpu = run_child([sys.executable, "-c", code, conf_path], env=env)
    res = json.loads(out.strip().splitlines()[-1])
    return {"records": res["records"], "bytes": res["bytes"], "wall": wall, "copy": res["duration"], "rss_mb": rss,
            "cpu": cpu, "transactions": res["transactions"]}


def run_mm2(clusters, source, target, topics, prefix, expected_records, timeout, tasks):
    try:
        import connect_harness
        from ansible_collections.kafkaops.migration.plugins.module_utils import mm2
        from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline
    except ImportError as exc:
        return {"skipped": "MM2: not measured (%s)" % exc}
    tag = prefix.rsplit("-", 1)[-1]
    workdir = os.path.join(os.environ.get("TMPDIR", "/tmp"), "kafkaops-bench-connect-%s" % tag)
    worker = connect_harness.ConnectWorker(clusters["target"], workdir=workdir, port=int(os.environ.get(
        "KAFKAOPS_BENCH_CONNECT_PORT", 19583)), heap="512m")
    print("  starting a Connect worker on %s ..." % worker.url)
    worker.start()
    params = {"topics": list(topics), "topic_patterns": [], "interval": 1.0, "mirrormaker2": {
        "connect_url": worker.url, "connector_prefix": "kafkaops-bench-%s" % tag, "tasks_max": tasks,
        "source_alias": "bsrc%s" % tag, "target_alias": "btgt%s" % tag, "checkpoints": False,
        "heartbeats": False, "sync_topic_configs": False, "replication_factor": 1, "exactly_once": "auto",
        "wait": True, "state": "present",
        # The same client batching as the Python copiers, so that the engines differ, not the settings.
        "connector_config": {"source": {"producer.override.linger.ms": "20", "producer.override.batch.size": "1000000",
                                        "consumer.max.partition.fetch.bytes": "1048576"}}}}
    try:
        deadline = Deadline(timeout)
        t0 = time.monotonic()
        res = mm2.run_mirrormaker2(params, source, target, deadline)
        opts = mm2.mm2_options(params)
        client = mm2.ConnectClient(opts["connect_url"], None, None, True, None, 10.0, deadline)
        connector = mm2.connector_names(opts)["source"]
        copied_at = None
        while time.monotonic() - t0 < timeout:
            lag = mm2.measure_lag(client, source, connector, opts, list(topics), [])
            if lag is not None and lag["total"] == 0:
                copied_at = time.monotonic()
                break
            time.sleep(0.5)
        rss = _vm_hwm(worker.popen.pid)
        if copied_at is None:
            return {"skipped": "MM2: did not finish within %ss" % timeout}
        wall = copied_at - t0
        out = {"records": expected_records[0], "bytes": expected_records[1], "wall": wall, "copy": wall, "rss_mb": rss,
               "exactly_once": res.get("exactly_once"), "tasks": tasks, "cpu": _jvm_cpu(worker.popen.pid)}
        params["mirrormaker2"]["state"] = "absent"
        mm2.run_mirrormaker2(params, source, target, Deadline(60))
        return out
    finally:
        worker.stop()
        leftovers = [t for t in target.admin.list_topics(timeout=10).topics if tag in t and t.startswith("mm2-")]
        leftovers += [t for t in source.admin.list_topics(timeout=10).topics if tag in t and t.startswith("mm2-")]
        delete_topics(target, [t for t in leftovers if t in target.admin.list_topics(timeout=10).topics])
        delete_topics(source, [t for t in leftovers if t in source.admin.list_topics(timeout=10).topics])


def _jvm_cpu(pid):
    """CPU seconds used so far by a running process (the whole worker, start-up included)."""
    try:
        with open("/proc/%d/stat" % pid) as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / float(os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def _vm_hwm(pid):
    total = 0.0
    try:
        with open("/proc/%d/status" % pid) as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    total = int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return total


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--gb", type=float, default=2.0, help="data volume in GB (10^9 bytes of keys and values)")
    ap.add_argument("--topics", type=int, default=4)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--record-bytes", type=int, default=1000)
    ap.add_argument("--mm2-tasks", type=int, default=4)
    ap.add_argument("--no-mm2", action="store_true")
    ap.add_argument("--engines", default="raw,builtin,mm2", help="comma-separated subset of raw,builtin,mm2")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("worker_conf", nargs="?", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker == "raw":
        with open(args.worker_conf) as fh:
            print(json.dumps(raw_worker(json.load(fh))))
        return 0

    with open(os.environ.get("KAFKAOPS_CLUSTERS_FILE", DEFAULT_CLUSTERS)) as fh:
        clusters = json.load(fh)
    src_opts, tgt_opts = options(clusters["source"]), options(clusters["target"])
    source, target = Cluster(src_opts, "source"), Cluster(tgt_opts, "target")
    engines = [e for e in args.engines.split(",") if e]
    if args.no_mm2 and "mm2" in engines:
        engines.remove("mm2")
    tag = uuid.uuid4().hex[:8]
    prefix = "bench-mirror-%s" % tag
    topics = ["%s.t%d" % (prefix, i) for i in range(args.topics)]
    raw_topics = dict((t, t + ".raw") for t in topics)
    map_topic = prefix + ".map"
    workdir = os.path.join(os.environ.get("TMPDIR", "/tmp"), prefix)
    os.makedirs(workdir, exist_ok=True)
    results = {}
    try:
        print("creating %d topics x %d partitions (RF 1) with prefix %s" % (args.topics, args.partitions, prefix))
        create_topics(source, topics, args.partitions)
        create_topics(target, topics + (list(raw_topics.values()) if "raw" in engines else []), args.partitions)
        t0 = time.monotonic()
        total = produce_data(source, topics, args.partitions, int(args.gb * 1e9), args.record_bytes)
        print("produced %d records, %.1f MB in %.1fs" % (total[0], total[1] / 1e6, time.monotonic() - t0))
        ends = end_offsets(source, topics, args.partitions)
        if "raw" in engines:
            path = os.path.join(workdir, "raw.json")
            with open(path, "w") as fh:
                json.dump({"source": src_opts, "target": tgt_opts, "rename": raw_topics,
                           "ends": [[t, p, e] for (t, p), e in sorted(ends.items())]}, fh)
            print("raw loop ...")
            results["raw"] = run_raw(path)
            delete_topics(target, list(raw_topics.values()))
        if "builtin" in engines:
            path = os.path.join(workdir, "builtin.json")
            with open(path, "w") as fh:
                json.dump({"source": src_opts, "target": tgt_opts, "topics": topics, "name": prefix,
                           "offset_map_topic": map_topic, "mode": "snapshot", "timeout": args.timeout}, fh)
            print("built-in engine ...")
            results["builtin"] = run_builtin(path)
        if "mm2" in engines:
            if "builtin" in engines:  # MM2 writes to the same names (IdentityReplicationPolicy): start empty
                delete_topics(target, topics, wait=True)
                create_topics(target, topics, args.partitions)
            print("MirrorMaker 2 ...")
            results["mm2"] = run_mm2(clusters, source, target, topics, prefix, total, args.timeout, args.mm2_tasks)
    finally:
        print("deleting the benchmark topics ...")
        delete_topics(target, topics + list(raw_topics.values()) + [map_topic])
        delete_topics(source, topics)

    print()
    print("data: %d records, %.1f MB over %d topics x %d partitions, %d-byte values, 1 header"
          % (total[0], total[1] / 1e6, args.topics, args.partitions, args.record_bytes))
    header = ("engine", "records", "MB", "wall s", "MB/s", "copy MB/s", "RSS MB", "CPU s")
    print("%-9s %10s %10s %9s %9s %9s %8s %8s" % header)
    for name in ("raw", "builtin", "mm2"):
        r = results.get(name)
        if r is None:
            if name == "mm2":
                print("MM2: not measured (not requested)")
            continue
        if "skipped" in r:
            print(r["skipped"])
            continue
        cpu = r.get("cpu")
        print("%-9s %10d %10.1f %9.1f %9.1f %9.1f %8.0f %8s" % (
            name, r["records"], r["bytes"] / 1e6, r["wall"], r["bytes"] / 1e6 / r["wall"],
            r["bytes"] / 1e6 / max(r["copy"], 1e-9), r["rss_mb"], "-" if cpu is None else "%.1f" % cpu))
    b, raw, mm = results.get("builtin"), results.get("raw"), results.get("mm2")
    if b and raw:
        print("builtin / raw loop: %.2fx (goal >= 0.8x)" % (raw["wall"] / b["wall"]))
    if b and mm and "skipped" not in mm:
        print("builtin / MM2:      %.2fx (goal >= 1.0x)" % (mm["wall"] / b["wall"]))
    print(json.dumps({"results": results, "args": vars(args)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
