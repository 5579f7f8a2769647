#!/usr/bin/env bash
# Side-by-side benchmark: builds a release hibiki and wsload, then runs every workload against
# hibiki and the installed peers, interleaved, and prints the table (JSON in build/).
#   bench/compare.sh [--rounds 5] [--workloads echo32,broadcast] [--servers hibiki,node-ws]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test >/dev/null
scripts/build.sh release >/dev/null
exec /usr/bin/python3 bench/compare.py "$@"
