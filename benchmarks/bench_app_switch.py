"""The producer pause per host during the switch, next to the application's own bare restart, in one run.

    python tests/harness/kafka_harness.py run -- python benchmarks/bench_app_switch.py --producers 3

Producers (the demo ledger apps: Python/librdkafka, and with ``--java`` a Java one too, under one
supervisord) write to a source topic. Each producer's ledger holds the time of every acknowledgement,
so a pause is measured the same way for both cases: from the producer's last acknowledgement before the
restart to the first acknowledgement of the restarted process (its ``FIRST-ACK`` line).

1. Bare restart: ``supervisorctl restart`` of each producer, its configuration untouched (what the
   application itself needs: a graceful stop that waits for its acknowledgements, a JVM or interpreter
   start, a connection, a first acknowledgement).
2. The role: ``migrate.yml --tags producers``, host by host, each producer's configuration edited in
   place and the start proven (settle, log pattern, records on the target).

Prints per host: the bare pause, the switch pause, their difference (the role's own overhead; goal at
most 2 s) and their ratio, and the wall time of each host's switch including its proofs.

With ``--strict-order``: the whole cutover (steps 3-8, one old and one new consumer, two producers) run twice,
with and without ``kafka_migration_strict_order``, and the consumption pause of each (the price of per-key
order across the switch), with the ledger figures (0 lost, 0 twice).
"""

import argparse
import json
import os
import pathlib
import re
import shlex
import statistics
import sys
import tempfile
import time
import uuid

import common  # noqa: F401  (sys.path set-up)
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from tests.integration.test_demo_apps import Supervisor, ledger, wait_for, write_properties  # noqa: E402
from tests.integration.test_roles_kafka import run_with_inventory  # noqa: E402
from tests.utils.wait import wait_topics_on_every_broker  # noqa: E402

APPS = os.path.join(common.REPO, "demo", "apps")


def first_ack_after(log, after_ms):
    """The time (epoch ms) of the first acknowledgement of the first start after ``after_ms`` (its FIRST-ACK line)."""
    for line in open(log).read().splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[0] == "FIRST-ACK" and int(fields[2]) > after_ms:
            return int(fields[2])
    return None


def pause(rows, first_new_ms):
    """Seconds from the last acknowledgement of the stopped process to the first one of the new process."""
    return (first_new_ms - max(int(f[6]) for f in rows if int(f[6]) < first_new_ms)) / 1000.0


def consumption_pause(cs, strict, rate):
    """The whole cutover (steps 3-8) with one old and one new consumer and two producers; returns the seconds
    from the last record processed on the source to the first processed on the target, and the ledger figures."""
    from tests.integration.test_app_switch_kafka import Rig  # noqa: PLC0415
    tag = uuid.uuid4().hex[:6]
    rig = Rig(cs, pathlib.Path(tempfile.mkdtemp(prefix="bench-strict-")), lambda n: "%s-%s" % (n, tag),
              "bench-order", rate=rate)
    group = "bench-order-g-" + tag
    old = rig.add("consumer-old", "consumer", "python", "properties", "librdkafka", group=group,
                  extra_args=["--offset-reset", "earliest"])
    new = rig.add("consumer-new", "consumer", "python", "properties", "librdkafka", group=group)
    prods = [rig.add(p, "producer", "python", "properties", "librdkafka") for p in ("p1", "p2")]
    inventory = rig.inventory(consumers={"app-1": [new.describe()]}, old_consumers={"app-1": [{"services": [old.name]}]},
                              producers=dict(("app-%s" % p.name, [p.describe()]) for p in prods))
    extra = rig.extra([group], kafka_migration_strict_order=strict)
    with rig.start_supervisor() as sup:
        sup.ctl("start", old.name, *[p.name for p in prods])
        wait_for("the old consumer to process", lambda: len(old.ledger()) >= 30, 90)
        for tags in ("topics,groups", "consumers,producers,drain"):
            rc, out = run_with_inventory(inventory, extra, tags)
            if rc != 0:
                print(out[-6000:])
                raise SystemExit("the cutover failed (rc %d)" % rc)
        rig.wait_written(rig.target_servers, 10)
        rig.finish([new.name])
    figures = rig.check_ledgers()
    last_old, first_new = max(int(f[6]) for f in old.ledger()), min(int(f[6]) for f in new.ledger())
    return (first_new - last_old) / 1000.0, figures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--producers", type=int, default=3, help="Python producers, one inventory host each (default 3)")
    ap.add_argument("--java", action="store_true", help="one Java producer more (Kafka's own client)")
    ap.add_argument("--rate", type=float, default=50.0, help="messages per second per producer")
    ap.add_argument("--settle", type=float, default=3.0, help="kafka_app_settle of the role (default 3)")
    ap.add_argument("--strict-order", action="store_true",
                    help="instead: the consumption pause of the whole cutover, with and without kafka_migration_strict_order")
    a = ap.parse_args()
    cs = common.running_clusters()
    if a.strict_order:
        print("consumption pause (last record processed on the source -> first processed on the target), seconds")
        for strict in (False, True):
            seconds, figures = consumption_pause(cs, strict, a.rate)
            print("strict_order=%-5s %8.1f   %s" % (strict, seconds, figures))
        print("(negative: the new consumer was processing the target's records while the old one drained the source)")
        return 0
    folder = tempfile.mkdtemp(prefix="bench-app-switch-")
    os.makedirs(os.path.join(folder, "logs"))
    topic = "bench-switch-" + uuid.uuid4().hex[:6]
    admin = AdminClient(cs.librdkafka("source"))
    admin.create_topics([NewTopic(topic, 3, 3)])[topic].result(30)
    wait_topics_on_every_broker(cs.librdkafka("source"), topic, 3)
    target = cs["target"]["bootstrap_servers"]

    names = ["p%d" % (i + 1) for i in range(a.producers)] + (["j1"] if a.java else [])
    programs, apps = [], {}
    for name in names:
        conf = os.path.join(folder, "%s.properties" % name)
        write_properties(pathlib.Path(conf), cs["source"])
        args = ["--config", conf, "--topic", topic, "--id", name, "--ledger", os.path.join(folder, name + ".ledger"),
                "--rate", str(a.rate)]
        if name.startswith("j"):
            sys.path.insert(0, APPS)
            import build  # noqa: PLC0415
            build.build()
            argv = build.java_command("producer", args + ["--format", "properties"])
            dialect = "java"
        else:
            argv = [sys.executable, os.path.join(APPS, "producer.py")] + args
            dialect = "librdkafka"
        programs.append({"name": name, "command": " ".join(shlex.quote(x) for x in argv)})
        apps[name] = {"name": name, "services": [name], "topics": [topic],
                      "config": {"path": conf, "format": "properties", "dialect": dialect},
                      "log_file": os.path.join(folder, "logs", name + ".log"), "log_pattern": "FIRST-ACK"}
    ctl = os.path.join(os.path.dirname(sys.executable), "supervisorctl")
    inventory = os.path.join(folder, "inventory.json")
    with open(inventory, "w") as fh:
        json.dump({"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                                    "kafka_app_manager": "supervisord", "kafka_app_supervisorctl": ctl,
                                    "kafka_app_supervisor_config": os.path.join(folder, "supervisord.conf"),
                                    "kafka_app_settle": a.settle},
                           "hosts": {"localhost": {}},
                           "children": {"kafka_producers": {"hosts": dict(
                               ("host-%s" % n, {"kafka_producers_apps": [apps[n]]}) for n in names)}}}}, fh)

    def rows(name):
        return ledger(pathlib.Path(folder, name + ".ledger"))

    def log(name):
        return os.path.join(folder, "logs", name + ".log")

    with Supervisor(pathlib.Path(folder), programs) as sup:
        sup.ctl("start", *names)
        wait_for("every producer to write", lambda: all(len(rows(n)) >= 20 for n in names), 120)

        bare = {}
        for name in names:                       # the application's own restart, measured from its ledger
            at = int(time.time() * 1000)
            sup.ctl("restart", name)
            wait_for("%s to write again" % name, lambda n=name, t=at: first_ack_after(log(n), t) is not None, 120)
            bare[name] = pause(rows(name), first_ack_after(log(name), at))

        extra = {"kafka_source": cs.source, "kafka_target": cs.target, "kafka_topics_include": [re.escape(topic)]}
        rc, out = run_with_inventory(inventory, extra, "topics")       # step 3 first: the topic on the target
        if rc != 0:
            print(out[-6000:])
            raise SystemExit("the topics step failed (rc %d)" % rc)
        at = int(time.time() * 1000)
        started = time.monotonic()
        rc, out = run_with_inventory(inventory, extra, "producers")
        took = time.monotonic() - started
        if rc != 0:
            print(out[-6000:])
            raise SystemExit("the switch failed (rc %d)" % rc)
        wait_for("every producer to write to the target", lambda: all(
            any(f[5] == target for f in rows(n)) for n in names), 120)
        switched = {}
        for name in names:
            first = first_ack_after(log(name), at)
            assert [f[5] for f in rows(name) if int(f[6]) >= first][:1] == [target], name   # that start wrote to the target
            switched[name] = pause(rows(name), first)
        sup.ctl("stop", *names)
    print("producer pause per host (last ack on the source -> first ack on the target), seconds")
    print("%-8s %-10s %10s %10s %10s %8s" % ("host", "client", "bare", "switch", "overhead", "ratio"))
    for name in names:
        b, s = bare[name], switched[name]
        client = "java" if name.startswith("j") else "librdkafka"
        print("%-8s %-10s %10.2f %10.2f %10.2f %8.2f" % ("host-" + name, client, b, s, s - b, s / b if b else float("nan")))
    overheads = [switched[n] - bare[n] for n in names]
    print("mean overhead %.2f s, max %.2f s (goal: at most 2 s per host); the whole producers step took %.1f s "
          "for %d hosts (%.1f s per host, proofs and settle %.1f s included)"
          % (statistics.mean(overheads), max(overheads), took, len(names), took / len(names), a.settle))
    print("records: %s" % dict((n, len(rows(n))) for n in names))
    return 0 if max(overheads) <= 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
