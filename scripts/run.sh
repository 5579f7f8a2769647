#!/usr/bin/env bash
# Installs what is missing, builds a release hibiki and starts the chat on http://localhost:8080.
# Arguments go to `hibiki chat` (e.g. scripts/run.sh --port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
exec build/release/hibiki chat "$@"
