#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan, build/fuzz) and runs each for a bounded time.
#   fuzz/run.sh [seconds-per-target] [target...]     default: 30 s, every target
#   fuzz/run.sh --build-only                          builds every target, runs none
# Seeds come from fuzz/corpus/<target> (read only); new units go to build/fuzz/corpus/<target>
# and crashers to build/fuzz/artifacts/<target>. FUZZ_JOBS=N runs N targets at once (default
# 1); every fuzzer runs under nice -n 19. Exits non-zero if any target found something.
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(http_request_fuzz handshake_fuzz frame_stream_fuzz utf8_fuzz permessage_deflate_fuzz
  chat_json_fuzz gateway_message_fuzz gateway_management_fuzz gateway_config_fuzz h2_session_fuzz)
build_only=0
if [[ "${1:-}" == --build-only ]]; then
  build_only=1
  shift
fi
seconds="${1:-30}"
shift || true
targets=("$@")
((${#targets[@]})) || targets=("${all_targets[@]}")
jobs="${FUZZ_JOBS:-1}"
build=build/fuzz

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DHIBIKI_BUILD_FUZZERS=ON -DHIBIKI_BUILD_TESTS=OFF -DHIBIKI_BUILD_EXAMPLES=OFF >/dev/null
set +e
ninja -C "$build" -j"$(nproc)" "${targets[@]}" | grep -vE "^\[|^ninja: (Entering|no work)"
status=${PIPESTATUS[0]}
set -e
((status == 0)) || exit "$status"
((build_only)) && exit 0

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# One target: fuzz for $seconds, then print one summary line, or what it found and the crash
# file. Its exit status goes to logs/<target>.status for the summary below.
run_one() {
  local target="$1"
  local units="$build/corpus/$target" artifacts="$build/artifacts/$target"
  local log="$build/logs/$target.log"
  rm -rf "$artifacts"
  mkdir -p "$units" "$artifacts"
  local code=0
  nice -n 19 "$build/fuzz/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$units" "fuzz/corpus/$target" \
    >"$log" 2>&1 || code=$?
  echo "$code" >"$build/logs/$target.status"
  if ((code != 0)); then
    echo "$target: FOUND SOMETHING (exit $code), log $log"
    grep -aE '^==[0-9]+==ERROR|^SUMMARY|fuzz check failed|runtime error' "$log" | head -n 5 || true
    find "$artifacts" -type f -printf '  crash file: %p\n'
    return
  fi
  local execs stats
  execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -n 1 || true)
  stats=$(grep -aoE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -n 1 || true)
  echo "$target: clean for ${seconds}s, ${execs:-?} execs, $stats"
}

mkdir -p "$build/logs"
for target in "${targets[@]}"; do
  rm -f "$build/logs/$target.status"
  while (($(jobs -rp | wc -l) >= jobs)); do
    wait -n || true
  done
  run_one "$target" &
done
wait
failed=0
for target in "${targets[@]}"; do
  [[ "$(cat "$build/logs/$target.status" 2>/dev/null)" == 0 ]] || failed=1
done
exit "$failed"
