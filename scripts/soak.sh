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
cleanup() {
  stop_redis "$work/redis"
  stop_postgres "$work/pg"
  rm -rf "$work"
}
trap cleanup EXIT

pg_port=$(free_port)
redis_port=$(free_port)
PG_FSYNC=off start_postgres "$work/pg" "$pg_port"
start_redis "$work/redis" "$redis_port"
server="postgresql://postgres@127.0.0.1:$pg_port"
wait_for_postgres "$server/postgres"
ensure_database "$server/postgres" llmq_template
migrate "$server/llmq_template"

export TEST_PG_SERVER_URL="$server"
export TEST_REDIS_URL="redis://127.0.0.1:$redis_port"
node --import tsx scripts/soak.ts
