#!/usr/bin/env bash
# Cluster benchmarks (bench/cluster.py): installs what is missing, builds a release hibiki and
# wsload, and runs one node alone against one clustered node, 3 nodes with 3,000 subscribers,
# and Redis' CPU per message with 1-3 nodes. Arguments go to cluster.py. Never a timed test.
#   bench/cluster.sh [--rounds 3] [--parts single,spread,redis] [--rate 2000]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test >/dev/null
scripts/build.sh release >/dev/null
exec /usr/bin/python3 bench/cluster.py "$@"
