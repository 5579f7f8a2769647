#!/usr/bin/env bash
# Gateway benchmark (bench/gateway.py): builds a release hibiki, wsload and the benchmark's
# backend (bench/gateway_backend.c), then measures messages routed per second through
# `hibiki gateway` and back at --threads 1 and 2, and the gateway's CPU per routed message.
# Arguments go to gateway.py. Never a timed test.
#   bench/gateway.sh [--rounds 3] [--threads 1,2] [--connections 100] [--duration 10]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh release >/dev/null
exec /usr/bin/python3 bench/gateway.py "$@"
