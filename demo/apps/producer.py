#!/usr/bin/env python
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Demo producer: numbered, keyed messages, and a ledger of every message Kafka acknowledged.

Each message has the key ``<id>-<n mod keys>`` and the value ``{"producer": id, "seq": n}`` (plus a
``producer`` header). When the cluster acknowledges it, the line ``<id> <seq> <topic> <partition>
<offset> <bootstrap> <epoch_ms>`` (the time of the acknowledgement) is appended to the ledger: the
ledger is exactly what the producer may count as written. The cluster comes from a client
configuration file (``bootstrap.servers``, ``security.protocol``, ``sasl.*``; ``--config-format``
properties, env or yaml, see common.py) read at start: repointing the producer is rewriting that file
and restarting it. The file may also set ``acks``, ``linger.ms``, ``client.id``,
``enable.idempotence``, ``compression.type`` (they win over the defaults; the effective values are
printed in a ``settings:`` line). The first acknowledgement after a start prints
``FIRST-ACK <bootstrap> <epoch_ms>``. SIGTERM stops it gracefully (no new message, wait for the
acknowledgements, close). A restart goes on numbering after the last sequence number of its ledger.
With ``--first-ack-timeout N`` it exits with code 2 when nothing is acknowledged within N seconds.

    python demo/apps/producer.py --config client.properties --topic demo.orders --id p1 --ledger p1.ledger
"""

import argparse
import json
import os
import sys
import time

from confluent_kafka import Producer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import FORMATS, Stop, epoch_ms, read_config, read_ledger, settings_line, topics_of  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--config", required=True, help="client configuration file (bootstrap.servers, security, sasl)")
    ap.add_argument("--config-format", default="properties", choices=FORMATS)
    ap.add_argument("--topic", help="topic to write to (app.topic in the configuration file wins)")
    ap.add_argument("--id", required=True, help="producer id, part of every key and ledger line")
    ap.add_argument("--ledger", required=True)
    ap.add_argument("--rate", type=float, default=50.0, help="messages per second (default 50)")
    ap.add_argument("--count", type=int, default=0, help="stop after this many messages in all (0: run until stopped)")
    ap.add_argument("--keys", type=int, default=16, help="distinct keys per producer (default 16)")
    ap.add_argument("--first-ack-timeout", type=float, default=0,
                    help="exit with code 2 when nothing is acknowledged within this many seconds (0: wait forever)")
    args = ap.parse_args(argv)

    stop = Stop()
    conf = read_config(args.config, args.config_format, "producer")
    args.topic = topics_of(conf, [args.topic] if args.topic else [])[0]
    servers = conf["bootstrap.servers"]
    done = [int(f[1]) for f in read_ledger(args.ledger) if f and f[0] == args.id]
    seq = max(done) + 1 if done else 0
    defaults = {"enable.idempotence": "true", "acks": "all", "linger.ms": "5",
                "client.id": "demo-producer-%s" % args.id}
    settings = dict(defaults, **conf)  # the file's values win
    errors = []
    producer = Producer(dict(settings, log_level=3, error_cb=errors.append))
    ledger = open(args.ledger, "a", buffering=1)
    failed = []
    acked = [0]

    def on_delivery(err, msg):
        if err is not None:
            failed.append(err)
            return
        now = epoch_ms()
        payload = json.loads(msg.value())
        line = (args.id, payload["seq"], msg.topic(), msg.partition(), msg.offset(), servers, now)
        ledger.write("%s %d %s %d %d %s %d\n" % line)
        if not acked[0]:
            print("FIRST-ACK %s %d" % (servers, now), flush=True)
        acked[0] += 1

    print("producer %s: writing to %s on %s from seq %d" % (args.id, args.topic, servers, seq), flush=True)
    print(settings_line("producer", settings, {"compression.type": "none"}), flush=True)
    started = time.monotonic()
    sent = 0

    def no_ack_in_time():
        return (args.first_ack_timeout > 0 and sent and not acked[0]
                and time.monotonic() - started > args.first_ack_timeout)

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
        sent += 1
        producer.poll(0)
        if no_ack_in_time():
            break
        next_at += interval
        pause = next_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    while args.first_ack_timeout > 0 and sent and not acked[0] and not failed and not no_ack_in_time():
        producer.poll(0.2)  # stopped before the first acknowledgement: that wait is bounded too
    if no_ack_in_time():
        print("producer %s: no acknowledgement within %gs; last client error: %s"
              % (args.id, args.first_ack_timeout, errors[-1] if errors else (failed[-1] if failed else "none")),
              flush=True)
        ledger.close()
        os._exit(2)  # nothing was acknowledged: nothing to wait for
    left = producer.flush(60)
    ledger.close()
    print("producer %s: stopped at seq %d, %d unacknowledged, %d failed" % (args.id, seq, left, len(failed)), flush=True)
    return 1 if left or failed else 0


if __name__ == "__main__":
    sys.exit(main())
