#!/usr/bin/env bash
# Source me: sets up everything on a fresh machine, idempotently.
#   - Java 17 and Maven (apt-get, only when missing)
#   - a virtualenv (.venv, or $KAFKAOPS_VENV) with requirements-dev.txt
#   - the Apache Kafka jars from Maven Central (tests/harness/maven/*, cached in ~/.cache/kafkaops-migration)
#   - the collection linked into an ansible_collections tree, exported as ANSIBLE_COLLECTIONS_PATH
set -euo pipefail
KAFKAOPS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
  echo "setup: installing Java 17 and Maven"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jdk-headless maven >/dev/null
fi
if ! command -v shellcheck >/dev/null; then  # used by ansible-test sanity
  if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null); then
    echo "setup: shellcheck could not be installed; ansible-test will skip that sanity test" >&2
  fi
fi
VENV="${KAFKAOPS_VENV:-$KAFKAOPS_ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "${PYTHON:-python3}" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$KAFKAOPS_ROOT/requirements-dev.txt"
export PATH="$VENV/bin:$PATH"
python "$KAFKAOPS_ROOT/tests/harness/kafka_harness.py" install
ANSIBLE_COLLECTIONS_PATH="$(python "$KAFKAOPS_ROOT/tests/utils/collection.py")"
export ANSIBLE_COLLECTIONS_PATH
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
