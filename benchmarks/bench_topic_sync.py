#!/usr/bin/env python
"""Benchmark kafka_topic_sync's core against a naive one-topic-per-call loop, on its own clusters.

    python benchmarks/bench_topic_sync.py            # 2,000 topics (the issue's benchmark)
    python benchmarks/bench_topic_sync.py --topics 100   # a quick smoke run

Starts a private source (Kafka 3.9, ZooKeeper, 3 brokers) and target (Kafka 4.x, KRaft, 2 brokers,
SCRAM) with ``kafka_harness`` in /tmp/kafkaops-bench-topics on ports 19700+, so the shared test
clusters never carry these topics, and stops them at the end whatever happens.

Then, in one run:
1. creates N topics on the source (1 to 12 partitions, two or three configs each; every tenth topic
   has replication factor 2, the rest 1, which keeps the target brokers under their open-file limit
   with both the synced and the naive copies);
2. times ``topics.sync`` (the module's core) in check mode, for real (``wait_timeout=0``: until the
   controller acknowledged every batch) and its no-op re-run; after the sync it times, separately, how
   long the target's metadata takes to show every topic and its brokers to create every log on disk
   (a KRaft controller acknowledges before the brokers apply), so each timed phase starts idle;
3. times a naive loop creating the same topics (same partitions, replication factor and configs,
   already known: only the creation is timed) under another prefix on the target, one
   ``create_topics`` call per topic, each awaited (until the controller acknowledged), then the same
   two "until" figures;
4. prints the figures and the ratio naive / sync.

Goal on a 2-core machine: full sync < 30 s, no-op re-run < 5 s.
"""

import argparse
import glob
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "harness"))
sys.path.insert(0, REPO)

from tests.utils.collection import collections_root  # noqa: E402

sys.path.insert(0, collections_root())

import kafka_harness  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from ansible_collections.kafkaops.migration.plugins.module_utils.connection import Cluster  # noqa: E402
from ansible_collections.kafkaops.migration.plugins.module_utils.topics import SyncOptions, sync  # noqa: E402
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline  # noqa: E402

CONFIG_CHOICES = [
    ("retention.ms", ["3600000", "86400000", "259200000"]),
    ("cleanup.policy", ["delete", "compact", "compact,delete"]),
    ("max.message.bytes", ["1048588", "2097152"]),
    ("segment.ms", ["3600000", "86400000"]),
    ("min.insync.replicas", ["1", "2"]),
    ("message.format.version", ["2.8"]),   # deny-listed: never reaches the 4.x target
]


def topic_specs(count, seed):
    rnd = random.Random(seed)
    specs = {}
    for i in range(count):
        rf = 2 if i % 10 == 0 else 1
        configs = dict((k, rnd.choice(v)) for k, v in rnd.sample(CONFIG_CHOICES, rnd.choice([2, 3])))
        if int(configs.get("min.insync.replicas", "1")) > rf:
            configs["min.insync.replicas"] = str(rf)
        specs["t%05d" % i] = (rnd.randint(1, 12), rf, configs)
    return specs


def create_batched(admin, prefix, specs, batch=200):
    """Set-up only. ``operation_timeout=0``: a ZooKeeper-mode controller answers once the topics are
    registered; the brokers create the logs afterwards (see wait_visible)."""
    names = sorted(specs)
    for i in range(0, len(names), batch):
        chunk = names[i:i + batch]
        futs = admin.create_topics(
            [NewTopic(prefix + n, specs[n][0], specs[n][1], config=specs[n][2]) for n in chunk],
            operation_timeout=0, request_timeout=120)
        for fut in futs.values():
            fut.result(timeout=180)


def wait_visible(admin, prefix, specs, seconds=1500):
    """Until every partition of every topic has a leader in the metadata."""
    end = time.monotonic() + seconds
    missing = list(specs)
    while time.monotonic() < end:
        try:
            md = admin.list_topics(timeout=60)
        except Exception as exc:  # noqa: BLE001 - busy brokers: ask again
            print("  (metadata: %s)" % exc, flush=True)
            continue
        missing = [n for n in specs
                   if prefix + n not in md.topics or len(md.topics[prefix + n].partitions) < specs[n][0]
                   or any(p.leader < 0 for p in md.topics[prefix + n].partitions.values())]
        if not missing:
            return
        time.sleep(5)
    raise RuntimeError("%d topics not visible after %ss" % (len(missing), seconds))


def replicas_on_disk(workdir, side, prefix):
    """Partition folders the brokers of ``side`` have created for topics starting with ``prefix``."""
    total = 0
    for broker_dir in glob.glob(os.path.join(workdir, "data", side + "-*")):
        with os.scandir(broker_dir) as it:
            total += sum(1 for e in it if e.name.startswith(prefix) and e.is_dir())
    return total


def settle(workdir, side, prefix, expected, seconds=1200):
    """Wait until the brokers have created every log: KRaft answers a create once the metadata is
    committed and brokers create the logs afterwards, which would slow the next timed phase."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if replicas_on_disk(workdir, side, prefix) >= expected:
            return
        time.sleep(1)
    print("  (settle: %d of %d replicas on disk after %ss)" % (replicas_on_disk(workdir, side, prefix), expected, seconds))


def naive_loop(admin, prefix, specs):
    for name in sorted(specs):
        p, rf, configs = specs[name]
        futs = admin.create_topics([NewTopic(prefix + name, p, min(rf, 2), config=dict(
            (k, v) for k, v in configs.items() if k != "message.format.version"))],
            operation_timeout=60, request_timeout=60)
        futs[prefix + name].result(timeout=90)


def timed(label, fn, figures):
    t0 = time.monotonic()
    out = fn()
    figures[label] = time.monotonic() - t0
    print("%-58s %8.2f s   (load average %.1f)" % (label, figures[label], os.getloadavg()[0]), flush=True)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--topics", type=int, default=2000)
    parser.add_argument("--workdir", default="/tmp/kafkaops-bench-topics")
    parser.add_argument("--base-port", type=int, default=19700)
    parser.add_argument("--heap", default="1g")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--seed", type=int, default=20261128)
    args = parser.parse_args(argv)

    specs = topic_specs(args.topics, args.seed)
    partitions = sum(s[0] for s in specs.values())
    print("topics: %d, partitions: %d, configs per topic: 2-3, machine: %d cores"
          % (len(specs), partitions, os.cpu_count() or 0), flush=True)
    figures = {}
    harness = kafka_harness.Clusters(kafka_harness.Layout(workdir=args.workdir, base_port=args.base_port, heap=args.heap))
    try:
        desc = timed("start private clusters", harness.start, figures)
        src_admin = AdminClient(kafka_harness.client_config(desc["source"]))
        tgt_admin = AdminClient(kafka_harness.client_config(desc["target"]))
        timed("set-up: create topics on the source", lambda: create_batched(src_admin, "bench.", specs), figures)
        timed("set-up: wait for source leaders (brokers create the logs)", lambda: wait_visible(src_admin, "bench.", specs), figures)
        src_replicas = sum(s[0] * s[1] for s in specs.values())
        tgt_replicas = sum(s[0] * min(s[1], 2) for s in specs.values())
        timed("set-up: source brokers create %d logs" % src_replicas,
              lambda: settle(args.workdir, "source", "bench.", src_replicas), figures)

        opts = SyncOptions(include=[r"bench\..*"], replication_factor="auto", batch_size=args.batch_size)
        cluster_opts = dict((name, conn(desc[name])) for name in ("source", "target"))

        def run(check_mode=False, wait_timeout=0):
            deadline = Deadline(900)
            src = Cluster(cluster_opts["source"], "source", deadline)
            tgt = Cluster(cluster_opts["target"], "target", deadline)
            return sync(src, tgt, opts, check_mode=check_mode, timeout=120, wait_timeout=wait_timeout)[0]

        full, noop, naive = ("kafka_topic_sync core, full sync", "kafka_topic_sync core, no-op re-run",
                             "naive loop, one create_topics call per topic")
        res = timed("kafka_topic_sync core, check mode", lambda: run(check_mode=True), figures)
        assert len(res["created"]) == len(specs) and not res["failed_topics"], res["failed_topics"]
        print("  timings: %s" % res["timings"])
        # wait_timeout=0: returns once the controller acknowledged every batch, like the naive loop's calls
        res = timed(full, run, figures)
        assert len(res["created"]) == len(specs) and not res["failed_topics"], res["failed_topics"]
        print("  timings: %s" % res["timings"])
        timed("+ until the target's metadata shows every topic",
              lambda: wait_visible(tgt_admin, "bench.", specs), figures)
        timed("+ until the target brokers created the %d logs" % tgt_replicas,
              lambda: settle(args.workdir, "target", "bench.", tgt_replicas), figures)
        res = timed(noop, run, figures)
        assert res["changed"] is False and res["summary"]["unchanged"] == len(specs), res["summary"]
        print("  timings: %s" % res["timings"])
        timed(naive, lambda: naive_loop(tgt_admin, "naive.", specs), figures)
        timed("+ until the target's metadata shows every topic",
              lambda: wait_visible(tgt_admin, "naive.", specs), figures)
        timed("+ until the target brokers created the %d logs" % tgt_replicas,
              lambda: settle(args.workdir, "target", "naive.", tgt_replicas), figures)
        print("ratio naive loop / full sync (both until the controller acknowledged): %.1fx"
              % (figures[naive] / figures[full]))
        print("goals: full sync < 30 s: %s; no-op re-run < 5 s: %s" % (
            "met" if figures[full] < 30 else "NOT met", "met" if figures[noop] < 5 else "NOT met"))
    finally:
        t0 = time.monotonic()
        harness.stop()
        print("%-58s %8.2f s" % ("stop private clusters", time.monotonic() - t0), flush=True)
    return 0


def conn(cluster):
    keys = ("security_protocol", "sasl_mechanism", "sasl_username", "sasl_password")
    opts = dict((k, cluster[k]) for k in keys if cluster.get(k))
    opts["bootstrap_servers"] = cluster["bootstrap_servers"].split(",")
    opts["request_timeout"] = 60.0
    return opts


if __name__ == "__main__":
    sys.exit(main())
