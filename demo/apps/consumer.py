#!/usr/bin/env python
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Demo consumer: processes the demo producers' messages and keeps a ledger of what it processed.

Consumes with a consumer group (``read_committed`` unless the file sets ``isolation.level``, no auto
commit): for each message it appends ``<producer> <seq> <topic> <partition> <offset> <bootstrap>
<epoch_ms>`` (the time it processed it) to its ledger, then commits the offsets of what it processed,
synchronously, after every batch. The first record after a start prints ``FIRST-RECORD <bootstrap>
<epoch_ms>``. SIGTERM stops it gracefully (the batch in hand is processed and committed, then it
leaves the group). The cluster comes from a client configuration file, like the producer's
(``--config-format`` properties, env or yaml; it may also set ``client.id`` and ``isolation.level``).
``--offset-reset`` defaults to ``latest``, as many applications do: a
group that has no committed offset on a new cluster would silently skip what was already written
there, which is exactly what kafkaops.migration.kafka_group_sync prevents.

    python demo/apps/consumer.py --config client.properties --group billing --topic demo.orders --ledger c1.ledger
"""

import argparse
import json
import os
import sys

from confluent_kafka import Consumer, KafkaError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import FORMATS, Stop, epoch_ms, read_config, settings_line, topics_of  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--config-format", default="properties", choices=FORMATS)
    ap.add_argument("--group", required=True)
    ap.add_argument("--topic", action="append", help="topic to consume (repeatable; app.topic in the configuration file wins)")
    ap.add_argument("--ledger", required=True)
    ap.add_argument("--offset-reset", default="latest", choices=("latest", "earliest", "error"))
    args = ap.parse_args(argv)

    stop = Stop()
    conf = read_config(args.config, args.config_format, "consumer")
    args.topic = topics_of(conf, args.topic)
    servers = conf["bootstrap.servers"]
    settings = dict({"isolation.level": "read_committed", "client.id": "demo-consumer"}, **conf)  # the file's win
    settings.update({"group.id": args.group, "enable.auto.commit": "false", "auto.offset.reset": args.offset_reset,
                     "session.timeout.ms": "10000"})
    consumer = Consumer(dict(settings, log_level=3))
    consumer.subscribe(args.topic)
    ledger = open(args.ledger, "a")
    processed = 0
    print("consumer: group %s on %s reading %s" % (args.group, servers, ", ".join(args.topic)), flush=True)
    print(settings_line("consumer", settings), flush=True)
    try:
        while not stop.requested:
            batch = consumer.consume(num_messages=500, timeout=0.5)
            good = []
            for msg in batch:
                if msg.error():
                    if msg.error().code() != KafkaError._PARTITION_EOF:
                        print("consumer: %s" % msg.error(), file=sys.stderr, flush=True)
                    continue
                try:
                    payload = json.loads(msg.value())
                    who, seq = payload["producer"], payload["seq"]
                except (TypeError, ValueError, KeyError):
                    who, seq = "-", -1
                now = epoch_ms()
                ledger.write("%s %s %s %d %d %s %d\n" % (who, seq, msg.topic(), msg.partition(), msg.offset(), servers, now))
                if not processed and not good:
                    print("FIRST-RECORD %s %d" % (servers, now), flush=True)
                good.append(msg)
            if good:
                ledger.flush()
                os.fsync(ledger.fileno())
                consumer.commit(asynchronous=False)
                processed += len(good)
    finally:
        ledger.close()
        consumer.close()
    print("consumer: stopped after %d messages" % processed, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
