#!/usr/bin/env bash
# Side-by-side benchmark: installs what is missing (gnuplot, the Node ws and Bun peers), builds a
# release hibiki and wsload, runs every workload against hibiki and the peers, interleaved, and
# prints the tables. Results go to bench/results/latest.json and the chart to
# docs/benchmarks.svg. With --scaling: hibiki alone, --threads 1 against 2, results in
# bench/results/scaling.json and no chart. Arguments go to compare.py.
#   bench/compare.sh [--rounds 5] [--workloads echo32,broadcast] [--servers hibiki,node-ws,bun]
#   bench/compare.sh --scaling [--rounds 5]
#   bench/compare.sh --uws /tmp/uws/app --uws-tls /tmp/uws/app-tls   (also uWebSockets)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --bench >/dev/null
scripts/build.sh release >/dev/null

json=bench/results/latest.json
scaling=0
previous=
for arg in "$@"; do
  [[ "$arg" == --scaling || "$arg" == --backends ]] && scaling=1  # no chart for these
  [[ "$previous" == --json ]] && json="$arg"
  [[ "$arg" == --json=* ]] && json="${arg#--json=}"
  previous="$arg"
done
if ((scaling)); then
  exec /usr/bin/python3 bench/compare.py "$@"
fi
/usr/bin/python3 bench/compare.py --json "$json" "$@"
# The chart needs uWebSockets or Bun in the run (every bar is relative to the better of them).
if bench/chart.sh "$json" docs/benchmarks.svg; then
  echo "chart: docs/benchmarks.svg" >&2
fi
