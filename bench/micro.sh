#!/usr/bin/env bash
# Protocol microbenchmarks (bench/micro, Google Benchmark): builds a release hibiki_micro and runs
# it on core 0 when taskset is there. Arguments go to the binary, e.g.
#   bench/micro.sh                                    every benchmark, console table
#   bench/micro.sh --benchmark_filter=Mask            only the masking ones
#   bench/micro.sh --json build/micro.json            also write JSON (--benchmark_out)
#   bench/micro.sh --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
set -euo pipefail
cd "$(dirname "$0")/.."

args=()
while (($#)); do
  case "$1" in
    --json)
      [[ $# -ge 2 ]] || { echo "micro.sh: --json needs a file" >&2; exit 2; }
      mkdir -p "$(dirname "$2")"
      args+=("--benchmark_out=$2" --benchmark_out_format=json)
      shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done

scripts/install-deps.sh --test >/dev/null
scripts/build.sh release -DHIBIKI_BUILD_BENCHMARKS=ON
binary=build/release/bench/micro/hibiki_micro
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)
exec "${pin[@]}" "$binary" "${args[@]}"
