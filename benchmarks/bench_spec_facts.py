#!/usr/bin/env python
"""Benchmark kafka_spec_facts on many topics: prints figures, asserts nothing.

Creates N topics (default 2000, RF 1, 1..--max-partitions partitions, a few configs each) on the
shared source cluster with a handful of batched create calls and a unique prefix, writes a few
records to every 20th topic, then times:

* the source evaluation without sampling (describe topics/configs, offsets, log dirs, groups),
* the whole module (in-process, ``sample_window`` 2 s, preflight against the target),
* a naive loop of one describe_configs call per topic over a sample of topics, extrapolated to N,

and deletes every topic it created (also on failure or Ctrl-C).

    export PATH=/tmp/venv/bin:$PATH KAFKAOPS_CLUSTERS_FILE=/tmp/kafkaops-harness/clusters.json
    python benchmarks/bench_spec_facts.py [--topics 2000] [--max-partitions 4] [--naive-sample 200]
"""

import argparse
import json
import os
import re
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests", "harness"))

from tests.utils.collection import collections_root  # noqa: E402

sys.path.insert(0, collections_root())

import kafka_harness  # noqa: E402
from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType  # noqa: E402

from ansible_collections.kafkaops.migration.plugins.modules import kafka_spec_facts  # noqa: E402
from tests.conftest import ClusterSet  # noqa: E402
from tests.utils.modules import run_module  # noqa: E402

BATCH = 500


def wait_ready(admin, names, timeout=120):
    deadline = time.monotonic() + timeout
    want = set(names)
    while time.monotonic() < deadline:
        md = admin.list_topics(timeout=30)
        ready = set(n for n in want if n in md.topics and md.topics[n].partitions
                    and all(p.leader >= 0 for p in md.topics[n].partitions.values()))
        if ready == want:
            return
        time.sleep(0.5)
    raise SystemExit("topics not ready after %d s" % timeout)


def create(admin, names, max_partitions):
    calls = 0
    for i in range(0, len(names), BATCH):
        new = []
        for j, n in enumerate(names[i:i + BATCH], start=i):
            cfg = {"retention.ms": str((1 + j % 7) * 3600 * 1000), "segment.bytes": str(16 * 1024 * 1024)}
            if j % 5 == 0:
                cfg["cleanup.policy"] = "compact"
            if j % 3 == 0:
                cfg["max.message.bytes"] = "2000000"
            new.append(NewTopic(n, num_partitions=1 + j % max_partitions, replication_factor=1, config=cfg))
        for name, fut in admin.create_topics(new, operation_timeout=60, request_timeout=60).items():
            fut.result()
        calls += 1
    wait_ready(admin, names)
    return calls


def delete(admin, names):
    for i in range(0, len(names), BATCH):
        for fut in admin.delete_topics(names[i:i + BATCH], operation_timeout=60, request_timeout=60).values():
            try:
                fut.result()
            except Exception as exc:  # already gone
                print("  delete: %s" % exc)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--topics", type=int, default=2000)
    ap.add_argument("--max-partitions", type=int, default=4)
    ap.add_argument("--naive-sample", type=int, default=200, help="topics described one call each (extrapolated)")
    ap.add_argument("--window", type=float, default=2.0)
    opts = ap.parse_args()

    path = os.environ.get("KAFKAOPS_CLUSTERS_FILE", "/tmp/kafkaops-harness/clusters.json")
    desc = kafka_harness.clusters_alive(path)
    if desc is None:
        raise SystemExit("the clusters in %s do not answer; start them with kafka_harness.py up --detach" % path)
    cs = ClusterSet(desc)
    conf = cs.librdkafka("source")
    admin = AdminClient(conf)
    prefix = "bench-spec-%s" % uuid.uuid4().hex[:8]
    names = ["%s.t%05d" % (prefix, i) for i in range(opts.topics)]
    figures = {"topics": opts.topics, "max_partitions": opts.max_partitions}
    try:
        t0 = time.monotonic()
        figures["create_calls"] = create(admin, names, opts.max_partitions)
        figures["create_s"] = round(time.monotonic() - t0, 2)
        p = Producer(dict(conf, **{"linger.ms": 20}))
        for n in names[::20]:
            for k in range(10):
                p.produce(n, key=b"%d" % k, value=b"v" * 200)
        p.flush(60)

        base = {"source": cs.source, "include": [re.escape(prefix) + ".*"], "timeout": 300}  # whole-name match
        t0 = time.monotonic()
        res = run_module(kafka_spec_facts, dict(base, sample_window=0))
        figures["evaluate_no_sampling_s"] = round(time.monotonic() - t0, 2)
        figures["partitions"] = res["spec"]["totals"]["partitions"]

        t0 = time.monotonic()
        res = run_module(kafka_spec_facts, dict(base, sample_window=opts.window, sample_interval=0.5,
                                                target=cs.target, edition="professional"))
        figures["module_with_%gs_window_and_preflight_s" % opts.window] = round(time.monotonic() - t0, 2)
        figures["module_overhead_beyond_window_s"] = round(figures["module_with_%gs_window_and_preflight_s" % opts.window]
                                                           - opts.window, 2)
        figures["recommended"] = res["spec"]["recommendation"]["edition"]
        figures["preflight_fits"] = res["spec"]["preflight"]["fits"]

        sample = names[:min(opts.naive_sample, len(names))]
        t0 = time.monotonic()
        for n in sample:  # the naive way: one call per topic
            for fut in admin.describe_configs([ConfigResource(ResourceType.TOPIC, n)], request_timeout=30).values():
                fut.result()
        naive = time.monotonic() - t0
        figures["naive_describe_configs_per_topic_s"] = round(naive / len(sample), 4)
        figures["naive_describe_configs_extrapolated_s"] = round(naive / len(sample) * opts.topics, 2)
    finally:
        t0 = time.monotonic()
        delete(admin, names)
        figures["delete_s"] = round(time.monotonic() - t0, 2)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
