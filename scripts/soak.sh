#!/usr/bin/env bash
# Soak run (npm run soak): starts a throwaway Postgres and Redis like test.sh, then scripts/soak.ts.
# SOAK_SECONDS (default 600), SOAK_WORKERS (3) and SOAK_CLIENTS (8) size it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

install_dependencies
ensure_postgres_binaries
ensure_redis_binaries

work=$(mktemp -d /tmp/llmq-soak.XXXXXX)
chmod 755 "$work"
trap 'stop_throwaway_services "$work"' EXIT

start_test_services "$work"
node --import tsx scripts/soak.ts
