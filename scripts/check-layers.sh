#!/usr/bin/env bash
# Fails when a file includes a layer above its own (docs/ARCHITECTURE.md): dependencies point
# downward only. Prints each offending include.
set -euo pipefail
cd "$(dirname "$0")/.."

# folder -> project include prefixes it may use
declare -A allowed=(
  [src/protocol]="protocol/"
  [src/net]="net/"
  [src/server]="server/ protocol/ net/ hibiki/"
  [src/cluster]="cluster/ hibiki/"
  [src/apps]="apps/ hibiki/ store/"
  [src/store]="store/"
  [include/hibiki]="hibiki/"
  [examples]="hibiki/"
)
status=0
for folder in "${!allowed[@]}"; do
  while IFS= read -r line; do
    file="${line%%:*}"
    included=$(sed -E 's/.*#include "([^"]+)".*/\1/' <<<"$line")
    ok=0
    for prefix in ${allowed[$folder]}; do
      [[ "$included" == "$prefix"* ]] && ok=1
    done
    if ((!ok)); then
      echo "layer violation: $file includes \"$included\" (allowed: ${allowed[$folder]})"
      status=1
    fi
  done < <(grep -rHE '^#include "' "$folder" --include='*.hpp' --include='*.cpp' || true)
done
((status == 0)) && echo "layers: every include points downward"
exit $status
