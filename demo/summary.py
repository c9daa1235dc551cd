#!/usr/bin/env python
# Copyright (c) kafkaops.migration contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print the demo's result from the files demo/run.sh leaves in its folder.

``fill.json`` (the sample data), ``apps/*.ledger`` (what the demo producers were acknowledged for and
what the consumers processed, checked for loss and duplicates), ``evaluate.json`` / ``topics.json`` / ``groups.json`` (the roles'
report files, present for the phases that ran) and ``target.json`` (the sample topics as the target
has them, read with a plain AdminClient). Usage: ``python demo/summary.py <folder>``.
"""

import json
import os
import sys
import time
from collections import Counter


def load(folder, name):
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        return json.load(fh)


def human_bytes(n):
    if n is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return "%.1f %s" % (n, unit) if unit != "B" else "%d B" % n
        n /= 1024.0
    return str(n)


def source_lines(fill, spec):
    out = ["Source"]
    if spec:
        t, tr = spec["totals"], spec["traffic"]
        out.append("  %d brokers, Apache Kafka %s (%s); %d topics, %d partitions, %d messages, %s on disk (one copy)"
                   % (t["brokers"], spec["version"]["reported"], spec["controller_mode"], t["topics"], t["partitions"],
                      t["messages"], human_bytes(t.get("size_bytes"))))
        if tr.get("messages_per_s") is not None:
            out.append("  traffic over %.0f s: %.0f msg/s, %s/s written (peak %.0f msg/s)"
                       % (tr["window_s"], tr["messages_per_s"], human_bytes(tr.get("bytes_per_s")),
                          tr["peak_messages_per_s"]))
    if fill:
        out.append("  consumer group %s: %d messages behind on %s"
                   % (fill["group"], fill["group_lag"], ", ".join(sorted(set(k.rsplit(":", 1)[0] for k in fill["group_offsets"])))))
    return out


def recommendation_lines(spec):
    if not spec:
        return ["Evaluation: phase not run"]
    rec = spec["recommendation"]
    verdict = "fits" if rec.get("fits") else "does NOT fit"
    out = ["Recommended target: %s (%s %s) - %s" % (rec.get("edition"), rec.get("vendor", ""), rec.get("spec", ""), verdict)]
    for name in ("write_mb_s", "read_mb_s", "topics", "partitions", "disk_gb", "retention_hours"):
        f = rec.get("figures", {}).get(name)
        if f:
            limit = "" if f.get("limit") is None else " (limit %s)" % f["limit"]
            out.append("  %-16s %s%s - %s" % (name, f["value"], limit, f["reason"]))
    pre = spec.get("preflight")
    if pre:
        out.append("Target preflight: %s; %d brokers, Apache Kafka %s (%s), %d topics already there"
                   % ("fits" if pre["fits"] else "does NOT fit", pre.get("brokers", 0), pre.get("version", {}).get("reported"),
                      pre.get("controller_mode"), len(pre.get("clashes", []))))
        for p in pre.get("problems", []):
            out.append("  %s: %s" % (p["severity"], p["detail"]))
    return out


def topics_lines(topics, target):
    if topics is None:
        return ["Topics: phase not run"]
    out = ["Topics created on the target: %d (expanded %d, configs aligned %d, unchanged %d)"
           % (len(topics["created"]), len(topics["expanded"]), len(topics["altered"]),
              topics.get("summary", {}).get("unchanged", 0))]
    for name in sorted(target or {}):
        t = target[name]
        configs = ", ".join("%s=%s" % kv for kv in sorted(t["config"].items()))
        out.append("  %-22s %2d partitions, RF %d, %s" % (name, t["partitions"], t["replication_factor"], configs))
    for name, adj in sorted(topics.get("adjusted", {}).items()):
        for key, a in sorted(adj.items()):
            out.append("  adjusted %s %s: %s -> %s (%s)" % (name, key, a["source"], a["target"], a["reason"]))
    return out


def groups_lines(groups):
    if groups is None:
        return ["Groups: phase not run"]
    out = ["Consumer groups on the target:"]
    for g in groups["groups"]:
        parts = g["partitions"]
        out.append("  %s: %s, start offsets committed on %d partitions (policy %s)"
                   % (g["name"], g["status"], len(parts), parts[0]["policy"] if parts else "-"))
    for name in groups.get("active_groups", []):
        out.append("  %s: left alone, it has active members on the target" % name)
    return out


def read_ledger(path):
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return [line.split() for line in fh if line.strip()]


def ledger_lines(folder, wait=90.0):
    """The cutover invariant over the demo applications' ledgers (waits for the new consumer to catch up)."""
    apps = os.path.join(folder, "apps")
    if not os.path.isdir(apps):
        return []
    deadline = time.monotonic() + wait
    while True:
        acked = read_ledger(os.path.join(apps, "p1.ledger")) + read_ledger(os.path.join(apps, "p2.ledger"))
        old = read_ledger(os.path.join(apps, "consumer-old.ledger"))
        new = read_ledger(os.path.join(apps, "consumer-new.ledger"))
        want = set((f[0], f[1]) for f in acked)
        processed = Counter((f[0], f[1]) for f in old + new if f[0] in ("p1", "p2"))
        if want <= set(processed) or time.monotonic() > deadline:
            break
        time.sleep(1)
    servers = sorted(set(f[5] for f in acked))
    lost = want - set(processed)
    twice = [k for k, n in processed.items() if n > 1]
    out = ["Applications (ledgers in %s)" % apps]
    for pid in ("p1", "p2"):
        mine = [f for f in acked if f[0] == pid]
        out.append("  %s: %d messages acknowledged, %s" % (pid, len(mine), ", ".join(
            "%d by %s" % (sum(1 for f in mine if f[5] == s), s) for s in servers)))
    out.append("  consumer-old processed %d of them on the source, consumer-new %d on the target"
               % (sum(1 for f in old if f[0] in ("p1", "p2")), sum(1 for f in new if f[0] in ("p1", "p2"))))
    verdict = "  -> every acknowledged message processed exactly once" if not lost and not twice else "  -> INVARIANT BROKEN"
    out.append("  lost: %d, processed twice: %d%s" % (len(lost), len(twice), verdict))
    return out


def main(argv):
    folder = argv[1] if len(argv) > 1 else "."
    spec = load(folder, "evaluate.json")
    lines = source_lines(load(folder, "fill.json"), spec)
    lines += recommendation_lines(spec)
    lines += topics_lines(load(folder, "topics.json"), load(folder, "target.json"))
    lines += groups_lines(load(folder, "groups.json"))
    apps = ledger_lines(folder)
    lines += apps
    print("\n".join(lines))
    return 1 if apps and "INVARIANT BROKEN" in apps[-1] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
