#!/usr/bin/env python
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Demo producer: numbered, keyed messages, and a ledger of every message Kafka acknowledged.

Each message has the key ``<id>-<n mod keys>`` and the value ``{"producer": id, "seq": n}`` (plus a
``producer`` header). When the cluster acknowledges it, the line ``<id> <seq> <topic> <partition>
<offset> <bootstrap>`` is appended to the ledger: the ledger is exactly what the producer may count as
written. The cluster comes from a client properties file (``bootstrap.servers``, ``security.protocol``,
``sasl.*``) read at start: repointing the producer is rewriting that file and restarting it.
SIGTERM stops it gracefully (no new message, wait for the acknowledgements, close). A restart goes on
numbering after the last sequence number of its ledger.

    python demo/apps/producer.py --config client.properties --topic demo.orders --id p1 --ledger p1.ledger
"""

import argparse
import json
import os
import sys
import time

from confluent_kafka import Producer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Stop, read_ledger, read_properties  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--config", required=True, help="client properties file (bootstrap.servers, security, sasl)")
    ap.add_argument("--topic", required=True)
    ap.add_argument("--id", required=True, help="producer id, part of every key and ledger line")
    ap.add_argument("--ledger", required=True)
    ap.add_argument("--rate", type=float, default=50.0, help="messages per second (default 50)")
    ap.add_argument("--count", type=int, default=0, help="stop after this many messages in all (0: run until stopped)")
    ap.add_argument("--keys", type=int, default=16, help="distinct keys per producer (default 16)")
    args = ap.parse_args(argv)

    stop = Stop()
    conf = read_properties(args.config)
    servers = conf["bootstrap.servers"]
    done = [int(f[1]) for f in read_ledger(args.ledger) if f and f[0] == args.id]
    seq = max(done) + 1 if done else 0
    producer = Producer(dict(conf, **{"enable.idempotence": True, "acks": "all", "linger.ms": 5,
                                      "client.id": "demo-producer-%s" % args.id, "log_level": 3}))
    ledger = open(args.ledger, "a", buffering=1)
    failed = []

    def on_delivery(err, msg):
        if err is not None:
            failed.append(err)
            return
        payload = json.loads(msg.value())
        ledger.write("%s %d %s %d %d %s\n" % (args.id, payload["seq"], msg.topic(), msg.partition(), msg.offset(), servers))

    print("producer %s: writing to %s on %s from seq %d" % (args.id, args.topic, servers, seq), flush=True)
    interval = 1.0 / args.rate if args.rate > 0 else 0
    next_at = time.monotonic()
    while not stop.requested and (args.count <= 0 or seq < args.count):
        value = json.dumps({"producer": args.id, "seq": seq}).encode()
        try:
            producer.produce(args.topic, key=("%s-%d" % (args.id, seq % args.keys)).encode(), value=value,
                             headers=[("producer", args.id.encode())], on_delivery=on_delivery)
        except BufferError:
            producer.poll(0.1)
            continue
        seq += 1
        producer.poll(0)
        next_at += interval
        pause = next_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    left = producer.flush(60)
    ledger.close()
    print("producer %s: stopped at seq %d, %d unacknowledged, %d failed" % (args.id, seq, left, len(failed)), flush=True)
    return 1 if left or failed else 0


if __name__ == "__main__":
    sys.exit(main())
