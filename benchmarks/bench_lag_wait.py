"""Per-poll cost of kafka_lag_wait's core on the running source cluster, against naive per-item reads.

    python tests/harness/kafka_harness.py run -- python benchmarks/bench_lag_wait.py --partitions 200 --groups 10

One transactional topic of P partitions; half of the G groups drained (committed at the marker), the
others one record behind. Prints the first poll (with the probes that prove trailing markers empty),
later polls, and the same reads done one call per partition and group. Deletes what it creates.
"""

import argparse
import statistics
import time
import uuid

import common  # noqa: E402  (sys.path set-up)
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, IsolationLevel, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec  # noqa: E402

from ansible_collections.kafkaops.migration.plugins.module_utils.connection import Cluster  # noqa: E402
from ansible_collections.kafkaops.migration.plugins.module_utils.lag import LagWaiter  # noqa: E402
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--partitions", type=int, default=60)
    ap.add_argument("--groups", type=int, default=5)
    ap.add_argument("--polls", type=int, default=5)
    a = ap.parse_args()
    cs = common.running_clusters()
    conf = cs.librdkafka("source")
    tag = uuid.uuid4().hex[:6]
    topic = "lagbench-" + tag
    admin = AdminClient(conf)
    admin.create_topics([NewTopic(topic, a.partitions, 1)])[topic].result(30)
    time.sleep(2)
    groups = ["lagbench-%s-g%d" % (tag, i) for i in range(a.groups)]
    try:
        p = Producer(dict(conf, **{"transactional.id": "lagbench-" + tag}))
        p.init_transactions(30)
        p.begin_transaction()
        for part in range(a.partitions):
            for dummy in range(3):
                p.produce(topic, value=b"x" * 100, partition=part)
        p.commit_transaction(30)
        time.sleep(1)
        for i, g in enumerate(groups):
            c = Consumer(dict(conf, **{"group.id": g, "enable.auto.commit": False}))
            off = 3 if i % 2 == 0 else 2
            c.commit(offsets=[TopicPartition(topic, q, off) for q in range(a.partitions)], asynchronous=False)
            c.close()
        w = LagWaiter(Cluster(cs.source, "source", Deadline(300)), groups=groups, interval=1, timeout=300)
        w.validate()
        times = []
        for dummy in range(a.polls):
            t0 = time.monotonic()
            snap = w.sample(w.deadline.elapsed())
            times.append(time.monotonic() - t0)
        t0 = time.monotonic()
        for q in range(a.partitions):
            for iso in (IsolationLevel.READ_UNCOMMITTED, IsolationLevel.READ_COMMITTED):
                list(admin.list_offsets({TopicPartition(topic, q): OffsetSpec.latest()}, isolation_level=iso).values())[0].result()
        for g in groups:
            list(admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(g)]).values())[0].result()
        naive = time.monotonic() - t0
        statuses = {}
        for g in snap["groups"].values():
            for part in g["partitions"]:
                statuses[part["status"]] = statuses.get(part["status"], 0) + 1
        print("partitions=%d groups=%d statuses=%s" % (a.partitions, a.groups, statuses))
        print("first poll (with probes): %.3f s; later polls: median %.3f s, max %.3f s"
              % (times[0], statistics.median(times[1:]), max(times[1:])))
        print("naive reads (one ListOffsets per partition and isolation level, one group at a time): %.3f s" % naive)
    finally:
        admin.delete_consumer_groups(groups, request_timeout=10)
        admin.delete_topics([topic])[topic].result(30)


if __name__ == "__main__":
    main()
