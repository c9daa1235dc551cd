#!/usr/bin/env bash
# The demo's body. scripts/demo runs it inside `kafka_harness.py run`, which sets KAFKAOPS_CLUSTERS_FILE
# to the running clusters and stops them afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${KAFKAOPS_CLUSTERS_FILE:?run me through scripts/demo}"
out="$(dirname "$KAFKAOPS_CLUSTERS_FILE")/demo"
rm -rf "$out" && mkdir -p "$out" && chmod 700 "$out"
(umask 077 && python demo/generate.py vars > "$out/clusters-vars.json")
play() { ansible-playbook -i demo/inventory -e @"$out/clusters-vars.json" -e demo_dir="$out" "$@"; }
cleanup() {
  if [ -n "${traffic:-}" ]; then kill "$traffic" 2>/dev/null || true; fi
  if [ -f "$out/apps/supervisord.conf" ]; then supervisorctl -c "$out/apps/supervisord.conf" shutdown >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

echo "== 1. Sample data on the source: 4 topics, keyed messages, group demo.billing half-way through"
python demo/generate.py --prefix demo fill --messages 5000 > "$out/fill.json"

echo "== 2. The applications, on the source: consumer-old (group demo.billing), producers p1 (Python) and p2 (Java, Spring YAML) (demo/apps.yml)"
play demo/apps.yml

echo "== 3. Evaluate, topics, groups (steps 1-4) while the source takes live traffic"
python demo/generate.py --prefix demo traffic --rate 200 --seconds 3600 > /dev/null &
traffic=$!
play playbooks/migrate.yml --tags evaluate,topics,groups \
  -e kafka_evaluate_report_file="$out/evaluate.json" -e kafka_topics_report_file="$out/topics.json" \
  -e kafka_groups_report_file="$out/groups.json"
kill "$traffic"
wait "$traffic" 2>/dev/null || true
traffic=

echo "== 4. Cutover (steps 6-8): new consumer on the target, producers moved host by host, source drained"
play playbooks/migrate.yml --tags consumers,producers,drain

echo "== 5. The producers write to the target for a few seconds, then stop; the new consumer catches up"
sleep 5
supervisorctl -c "$out/apps/supervisord.conf" stop p1 p2

echo "== 6. Result"
python demo/generate.py --prefix demo describe --cluster target > "$out/target.json"
python demo/summary.py "$out"
