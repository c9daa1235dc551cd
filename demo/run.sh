#!/usr/bin/env bash
# The demo's body. scripts/demo runs it inside `kafka_harness.py run`, which sets KAFKAOPS_CLUSTERS_FILE
# to the running clusters and stops them afterwards. Phases to run: KAFKAOPS_DEMO_PHASES (tags).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${KAFKAOPS_CLUSTERS_FILE:?run me through scripts/demo}"
out="$(dirname "$KAFKAOPS_CLUSTERS_FILE")/demo"
phases="${KAFKAOPS_DEMO_PHASES:-evaluate,topics,groups}"
mkdir -p "$out" && chmod 700 "$out"
rm -f "$out"/*.json

echo "== 1. Sample data on the source: topics, keyed messages, a consumer group half-way through"
python demo/generate.py --prefix demo fill --messages 5000 > "$out/fill.json"

echo "== 2. Live traffic on the source while the migration runs (demo/generate.py traffic)"
python demo/generate.py --prefix demo traffic --rate 200 --seconds 3600 > /dev/null &
traffic=$!
trap 'kill "$traffic" 2>/dev/null || true' EXIT

echo "== 3. ansible-playbook kafkaops.migration.migrate --tags $phases"
(umask 077 && python demo/generate.py vars > "$out/clusters-vars.json")
ansible-playbook -i demo/inventory playbooks/migrate.yml --tags "$phases" \
  -e @"$out/clusters-vars.json" \
  -e kafka_evaluate_report_file="$out/evaluate.json" \
  -e kafka_topics_report_file="$out/topics.json" \
  -e kafka_groups_report_file="$out/groups.json"

echo "== 4. Result"
python demo/generate.py --prefix demo describe --cluster target > "$out/target.json"
python demo/summary.py "$out"
