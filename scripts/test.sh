#!/usr/bin/env bash
# Installs what is missing, starts a throwaway Postgres and Redis on free ports, migrates, type-checks,
# builds the dashboard, and runs every test: the dashboard's unit tests (Vitest), then jest (API, worker,
# packages, and the dashboard's browser tests in Chromium). Extra arguments go to jest (e.g. a path filter).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

install_dependencies
ensure_postgres_binaries
ensure_redis_binaries
ensure_chromium

work=$(mktemp -d /tmp/llmq-test.XXXXXX)
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
# Suites clone this migrated template into a database of their own (CREATE DATABASE ... TEMPLATE).
ensure_database "$server/postgres" llmq_template
migrate "$server/llmq_template"
log "Postgres on $pg_port, Redis on $redis_port"

export TEST_PG_SERVER_URL="$server"
export TEST_REDIS_URL="redis://127.0.0.1:$redis_port"
export TEST_REDIS_DIR="$work/redis"

log "type-checking"
node_modules/.bin/tsc -p tsconfig.json
node_modules/.bin/tsc -p apps/dashboard/tsconfig.json
log "building the dashboard"
build_dashboard
log "running the dashboard's unit tests"
npm run test --workspace @llmq/dashboard --silent
log "running tests"
node_modules/.bin/jest "$@"
