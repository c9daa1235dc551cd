#!/usr/bin/env python
"""Topic sync onto an Alibaba Cloud target through the OpenAPI emulator, against the rate limit's floor.

    python tests/harness/kafka_harness.py run -- python benchmarks/bench_alibaba_topic_sync.py
    python tests/harness/kafka_harness.py run -- python benchmarks/bench_alibaba_topic_sync.py --topics 200 --qps 20

Creates N one-partition topics on the source (half of them with a ``.`` in the name, renamed by the
default rule), starts the emulator (tests/harness/alibaba_emulator.py, backed by the real target
cluster: every CreateTopic creates the topic on the brokers) with CreateTopic throttled at ``--qps``,
runs kafka_topic_sync with ``alibaba.rate_limit`` = ``--qps`` and then its no-op re-run, and prints:
the time, the floor the rate limit sets (topics / QPS), the time the seed's own tool takes (it waits
5 s after each topic: topics x 5 s), the calls made and the throttling answers. The documented limits
have been 1 call/s (floor for 2,000 topics: 2,000 s) and later 20 calls/s (100 s); pass ``--qps 1``
for the former. Deletes its topics at the end.
"""

import argparse
import time
import uuid

import common  # noqa: F401  (sys.path set-up)
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

import alibaba_emulator  # noqa: E402
from ansible_collections.kafkaops.migration.plugins.modules import kafka_topic_sync  # noqa: E402
from tests.utils.modules import run_module  # noqa: E402
from tests.utils.wait import wait_topics_gone, wait_topics_on_every_broker  # noqa: E402

SEED_SECONDS_PER_TOPIC = 5.0
AK, SECRET = "LTAI-bench", "bench-secret"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--topics", type=int, default=2000)
    ap.add_argument("--qps", type=float, default=20.0, help="CreateTopic calls per second (emulator and rate_limit)")
    args = ap.parse_args()
    clusters = common.running_clusters()
    tag = uuid.uuid4().hex[:6]
    names = ["bench.%s.t%04d" % (tag, i) if i % 2 else "bench-%s-t%04d" % (tag, i) for i in range(args.topics)]
    src_conf, tgt_conf = clusters.librdkafka("source"), clusters.librdkafka("target")
    src, tgt = AdminClient(src_conf), AdminClient(tgt_conf)
    for i in range(0, len(names), 500):
        for fut in src.create_topics([NewTopic(n, 1, 1) for n in names[i:i + 500]], operation_timeout=60).values():
            fut.result(120)
    wait_topics_on_every_broker(src_conf, names, timeout=300)
    emu = alibaba_emulator.AlikafkaEmulator(backing=clusters["target"], access_keys={AK: SECRET},
                                            qps={"CreateTopic": args.qps, "default": max(args.qps, 50.0)})
    emu.add_instance(instance_id="alikafka_post-cn-bench", topic_num_limit=args.topics + 5000, partition_num=args.topics + 5000)
    emu.start()
    created = []
    try:
        target = dict(clusters.target, api="alibaba", alibaba=dict(
            region_id="cn-hangzhou", instance_id="alikafka_post-cn-bench", endpoint=emu.endpoint, protocol="http",
            access_key_id=AK, access_key_secret=SECRET, rate_limit=args.qps))
        params = dict(source=clusters.source, target=target, include=[r"bench[.-]%s[.-]t\d+" % tag], timeout=args.topics * 10.0)
        t0 = time.monotonic()
        done = run_module(kafka_topic_sync, params)
        took = time.monotonic() - t0
        created = done["created"]
        t1 = time.monotonic()
        again = run_module(kafka_topic_sync, params)
        noop = time.monotonic() - t1
        floor = args.topics / args.qps
        print("topics: %d (%d renamed)   rate limit: %g CreateTopic/s" % (args.topics, len(done["renamed"]), args.qps))
        print("sync:        %8.1f s   (%d created, %d API calls, %d throttled, %.1f s waiting for the rate limit)"
              % (took, len(created), done["api_calls"]["calls"], done["api_calls"]["throttled"], done["api_calls"]["rate_limit_wait"]))
        print("floor:       %8.1f s   (topics / QPS)   sync / floor = %.3f" % (floor, took / floor))
        seed = args.topics * SEED_SECONDS_PER_TOPIC
        print("seed's tool: %8.1f s   (5 s per topic)    seed / sync = %.1f" % (seed, seed / took))
        print("no-op re-run:%8.1f s   (changed: %s, %d API calls)" % (noop, again["changed"], again["api_calls"]["calls"]))
        print("at 1 call/s the floor for %d topics would be %.0f s; the seed's tool %.0f s"
              % (args.topics, float(args.topics), args.topics * SEED_SECONDS_PER_TOPIC))
    finally:
        emu.stop()
        for admin, topics, conf in ((tgt, created, tgt_conf), (src, names, src_conf)):
            for i in range(0, len(topics), 500):
                for fut in admin.delete_topics(topics[i:i + 500], operation_timeout=60).values():
                    try:
                        fut.result(120)
                    except Exception:  # reported below by the wait
                        pass
            if topics:
                wait_topics_gone(conf, topics, timeout=300)


if __name__ == "__main__":
    main()
