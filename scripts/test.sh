#!/usr/bin/env bash
# Runs the whole test suite. Tests start their own redis-server processes on free ports
# (never the one on 6379), so the only requirement is the redis-server binary.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_redis_installed
cargo test --locked --all-targets "$@"
