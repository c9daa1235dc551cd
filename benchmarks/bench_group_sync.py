"""kafka_group_sync at scale: N groups x P partitions, policy latest, on running clusters.

    python tests/harness/kafka_harness.py run -- python benchmarks/bench_group_sync.py --groups 400 --partitions 12

Prints the wall time of a check-mode run, the real run and the unchanged second run; deletes its
topic and groups afterwards.
"""

import argparse
import time
import uuid

import common  # noqa: E402  (sys.path set-up)
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from ansible_collections.kafkaops.migration.plugins.module_utils.connection import Cluster  # noqa: E402
from ansible_collections.kafkaops.migration.plugins.module_utils.groups import sync_groups  # noqa: E402
from ansible_collections.kafkaops.migration.plugins.module_utils.wait import Deadline  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", type=int, default=100)
    ap.add_argument("--partitions", type=int, default=12)
    a = ap.parse_args()
    cs = common.running_clusters()
    tag = uuid.uuid4().hex[:6]
    topic = "gs-bench-" + tag
    groups = ["gs-bench-%s-%03d" % (tag, i) for i in range(a.groups)]
    src, tgt = AdminClient(cs.librdkafka("source")), AdminClient(cs.librdkafka("target"))
    try:
        for admin in (src, tgt):
            admin.create_topics([NewTopic(topic, a.partitions, 1)])[topic].result(30)
        time.sleep(5)
        todo, deadline = list(groups), time.monotonic() + 60
        while todo:  # a new topic's metadata may take a while to reach every group coordinator
            futs = {}
            for g in todo:
                futs.update(src.alter_consumer_group_offsets(
                    [ConsumerGroupTopicPartitions(g, [TopicPartition(topic, p, 0) for p in range(a.partitions)])]))
            todo = [g for g, f in futs.items() if any(tp.error for tp in f.result(60).topic_partitions)]
            if time.monotonic() > deadline:
                raise SystemExit("commits on the source keep failing for %d groups" % len(todo))
            time.sleep(0.5 if todo else 0)
        params = {"groups": [{"name": g} for g in groups], "policy": "latest", "fallback": "earliest"}
        for label, check in (("check mode", True), ("apply", False), ("second run", False)):
            d = Deadline(300)
            t0 = time.monotonic()
            res = sync_groups(Cluster(cs.source, "source", d), Cluster(cs.target, "target", d), params, check_mode=check)
            print("%-10s %4d groups x %3d partitions: %6.2f s  changed=%s" % (
                label, a.groups, a.partitions, time.monotonic() - t0, res["changed"]))
    finally:
        for admin in (src, tgt):
            for f in admin.delete_consumer_groups(groups, request_timeout=30).values():
                try:
                    f.result(60)
                except Exception:  # noqa: BLE001 - a group that never existed there
                    pass
            admin.delete_topics([topic])[topic].result(30)


if __name__ == "__main__":
    main()
