#!/usr/bin/env python
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sample data for the demo, the molecule scenario and the role tests: a source cluster worth migrating.

``fill`` creates a few topics on the source (various partition counts, replication factor 3 when the
cluster has 3 brokers, non-default configs, one compacted topic), writes keyed messages with headers to
them, and commits offsets for a consumer group half-way through so that it has lag. It is idempotent:
existing topics are kept, and ``--messages`` is a target count per topic (nothing is written to a
topic that already holds that many).

``traffic`` keeps writing to the topics at a steady rate for a while, so that a traffic sample taken
meanwhile (kafka_spec_facts) sees messages per second.

``describe`` prints the sample topics as one cluster has them (partitions, replication factor,
topic-level configs): an independent check of what a migration created.

``vars`` turns the harness's clusters file into Ansible extra vars ``kafka_source`` / ``kafka_target``
(module option dicts).

Usage::

    python demo/generate.py --clusters-file clusters.json --prefix demo fill
    python demo/generate.py --clusters-file clusters.json --prefix demo traffic --rate 200 --seconds 30
    python demo/generate.py --clusters-file clusters.json vars > vars.json
"""

import argparse
import json
import os
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, NewTopic, OffsetSpec

# name suffix -> (partitions, configs); replication factor min(3, brokers).
TOPICS = {
    "orders": (6, {"retention.ms": "604800000", "min.insync.replicas": "2", "compression.type": "producer"}),
    "payments": (3, {"retention.ms": "1209600000", "max.message.bytes": "2097152"}),
    "customers": (4, {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.3"}),
    "audit": (1, {"retention.ms": "86400000", "segment.bytes": "16777216"}),
}
# The group that reads orders and payments and is half-way through them.
GROUP_TOPICS = ("orders", "payments")
OPTION_KEYS = ("bootstrap_servers", "security_protocol", "sasl_mechanism", "sasl_username", "sasl_password")


def load_clusters(path):
    if not path:
        raise SystemExit("generate: no clusters file (use --clusters-file or set KAFKAOPS_CLUSTERS_FILE)")
    with open(path) as fh:
        return json.load(fh)


def client_config(cluster):
    """librdkafka settings for one entry of the clusters file."""
    conf = {"bootstrap.servers": cluster["bootstrap_servers"],
            "security.protocol": cluster.get("security_protocol") or "PLAINTEXT",
            "log_level": 0}
    if cluster.get("sasl_mechanism"):
        conf.update({"sasl.mechanism": cluster["sasl_mechanism"], "sasl.username": cluster["sasl_username"],
                     "sasl.password": cluster["sasl_password"]})
    return conf


def module_options(cluster):
    """The module option dict (source/target) for one entry of the clusters file."""
    opts = dict((k, cluster[k]) for k in OPTION_KEYS if cluster.get(k))
    opts["bootstrap_servers"] = [s.strip() for s in cluster["bootstrap_servers"].split(",") if s.strip()]
    return opts


def topic_names(prefix):
    return dict((suffix, "%s.%s" % (prefix, suffix)) for suffix in TOPICS)


def group_name(prefix):
    return "%s.billing" % prefix


def create_topics(admin, prefix, brokers):
    """Create the sample topics in one batch; return the names created now (existing ones are kept)."""
    rf = min(3, brokers)
    new = [NewTopic(name, num_partitions=TOPICS[suffix][0], replication_factor=rf, config=dict(TOPICS[suffix][1]))
           for suffix, name in topic_names(prefix).items()]
    created = []
    for name, fut in admin.create_topics(new, request_timeout=30).items():
        try:
            fut.result(timeout=35)
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    return sorted(created)


def wait_for_metadata(admin, names, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        md = admin.list_topics(timeout=10)
        if all(n in md.topics and md.topics[n].error is None and md.topics[n].partitions for n in names):
            return md
        time.sleep(0.2)
    raise SystemExit("generate: topics %s did not appear in the metadata within %ss" % (", ".join(names), timeout))


def end_offsets(admin, topics_partitions, timeout=30.0):
    """High watermark per (topic, partition), in one batched call (retried while new topics settle)."""
    deadline = time.monotonic() + timeout
    while True:
        futures = admin.list_offsets(dict((TopicPartition(t, p), OffsetSpec.latest()) for t, p in topics_partitions),
                                     request_timeout=10)
        try:
            return dict(((tp.topic, tp.partition), fut.result(timeout=15).offset) for tp, fut in futures.items())
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def message(topic_suffix, number, now_ms):
    """The n-th sample record of a topic: a key that spreads over partitions, a JSON value, headers."""
    key = "%s-%05d" % ({"orders": "customer", "payments": "customer", "customers": "customer",
                        "audit": "service"}[topic_suffix], number % 97)
    value = json.dumps({"n": number, "kind": topic_suffix, "amount": (number * 37) % 1000 / 10.0})
    headers = [("source", b"demo-generator"), ("seq", str(number).encode())]
    return key.encode(), value.encode(), headers, now_ms - 1000 * (10000 - number % 10000)


def produce(conf, prefix, counts):
    """Write ``counts[suffix]`` more messages to each topic; return the number written."""
    producer = Producer(dict(conf, **{"enable.idempotence": True, "acks": "all", "linger.ms": 20}))
    errors = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(err)

    written = 0
    now_ms = int(time.time() * 1000)
    names = topic_names(prefix)
    for suffix, (start, count) in counts.items():
        for n in range(start, start + count):
            key, value, headers, ts = message(suffix, n, now_ms)
            while True:
                try:
                    producer.produce(names[suffix], value=value, key=key, headers=headers, timestamp=ts,
                                     on_delivery=on_delivery)
                    break
                except BufferError:
                    producer.poll(0.1)
            written += 1
        producer.poll(0)
    left = producer.flush(60)
    if left or errors:
        raise SystemExit("generate: %d messages not acknowledged (%s)" % (left + len(errors), errors[:3]))
    return written


def commit_group_half_way(conf, prefix, ends):
    """Commit the group's offsets at half of each partition's log end: the group has lag."""
    names = topic_names(prefix)
    offsets = [TopicPartition(topic, partition, high // 2) for (topic, partition), high in sorted(ends.items())
               if topic in [names[s] for s in GROUP_TOPICS]]
    consumer = Consumer(dict(conf, **{"group.id": group_name(prefix), "enable.auto.commit": False}))
    try:
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()
    return dict(("%s:%d" % (tp.topic, tp.partition), tp.offset) for tp in offsets)


def fill(cluster, prefix, messages):
    conf = client_config(cluster)
    admin = AdminClient(conf)
    created = create_topics(admin, prefix, int(cluster.get("brokers") or 3))
    names = topic_names(prefix)
    md = wait_for_metadata(admin, list(names.values()))
    parts = [(n, p) for n in names.values() for p in md.topics[n].partitions]
    ends = end_offsets(admin, parts)
    counts = {}
    for suffix, name in names.items():
        have = sum(high for (t, _p), high in ends.items() if t == name)
        counts[suffix] = (have, max(messages - have, 0))
    written = produce(conf, prefix, counts)
    ends = end_offsets(admin, parts)
    committed = commit_group_half_way(conf, prefix, ends)
    return {
        "topics": dict((name, {"partitions": TOPICS[s][0], "config": TOPICS[s][1],
                               "messages": sum(h for (t, _p), h in ends.items() if t == name)})
                       for s, name in names.items()),
        "created": created,
        "written": written,
        "group": group_name(prefix),
        "group_offsets": committed,
        "group_lag": sum(h for (t, _p), h in ends.items() if t in [names[s] for s in GROUP_TOPICS])
        - sum(committed.values()),
    }


def describe(cluster, prefix):
    """The sample topics as a cluster has them: partitions, replication factor, topic-level configs."""
    conf = client_config(cluster)
    admin = AdminClient(conf)
    md = admin.list_topics(timeout=15)
    names = sorted(n for n in md.topics if n.startswith(prefix + "."))
    out = {}
    if not names:
        return out
    futures = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, n) for n in names], request_timeout=15)
    for resource, fut in futures.items():
        entries = fut.result(timeout=20)
        parts = md.topics[resource.name].partitions
        out[resource.name] = {
            "partitions": len(parts),
            "replication_factor": min(len(p.replicas) for p in parts.values()) if parts else 0,
            "config": dict((k, e.value) for k, e in entries.items()
                           if e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value),
        }
    return out


def traffic(cluster, prefix, rate, seconds):
    """Write about ``rate`` messages per second over all sample topics for ``seconds`` seconds."""
    conf = client_config(cluster)
    producer = Producer(dict(conf, **{"acks": "all", "linger.ms": 50}))
    names = topic_names(prefix)
    suffixes = list(names)
    end = time.monotonic() + seconds
    sent, n = 0, 100000
    tick = 0.1
    while time.monotonic() < end:
        started = time.monotonic()
        now_ms = int(time.time() * 1000)
        for _i in range(max(int(rate * tick), 1)):
            suffix = suffixes[n % len(suffixes)]
            key, value, headers, _ts = message(suffix, n, now_ms)
            try:
                producer.produce(names[suffix], value=value, key=key, headers=headers)
                sent += 1
            except BufferError:
                producer.poll(0.05)
            n += 1
        producer.poll(0)
        time.sleep(max(tick - (time.monotonic() - started), 0))
    producer.flush(30)
    return {"sent": sent, "seconds": seconds}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--clusters-file", default=os.environ.get("KAFKAOPS_CLUSTERS_FILE"))
    ap.add_argument("--prefix", default="demo", help="topic and group name prefix (default: demo)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fill", help="create the sample topics, messages and a lagging group (idempotent)")
    f.add_argument("--messages", type=int, default=2000, help="messages per topic (default: 2000)")
    t = sub.add_parser("traffic", help="keep writing to the sample topics for a while")
    t.add_argument("--rate", type=float, default=200.0, help="messages per second (default: 200)")
    t.add_argument("--seconds", type=float, default=30.0)
    d = sub.add_parser("describe", help="print the sample topics of a cluster: partitions, replicas, configs")
    d.add_argument("--cluster", choices=("source", "target"), default="target")
    sub.add_parser("vars", help="print kafka_source / kafka_target extra vars as JSON")
    args = ap.parse_args(argv)
    desc = load_clusters(args.clusters_file)
    if args.cmd == "vars":
        out = {"kafka_source": module_options(desc["source"]), "kafka_target": module_options(desc["target"])}
    elif args.cmd == "describe":
        out = describe(desc[args.cluster], args.prefix)
    elif args.cmd == "fill":
        out = fill(desc["source"], args.prefix, args.messages)
    else:
        out = traffic(desc["source"], args.prefix, args.rate, args.seconds)
    json.dump(out, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
