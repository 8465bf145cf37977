#!/usr/bin/env bash
# npm run bench: starts a throwaway Postgres and Redis (unless DATABASE_URL / REDIS_URL are given),
# migrates, and runs bench/src/main.ts, which starts the API, the workers and the upstream fixture as
# processes of their own and measures them next to bare baselines. BENCH_QUICK=1 for a short run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

install_dependencies
work=$(mktemp -d /tmp/llmq-bench.XXXXXX)
chmod 755 "$work"
trap 'stop_throwaway_services "$work"' EXIT
trap "exit 130" INT TERM

if [ -z "${DATABASE_URL:-}" ]; then
  ensure_postgres_binaries
  pg_port=$(free_port)
  # pg_stat_statements counts the statements per task of figure 7 (Debian's postgresql-15 ships it).
  start_postgres "$work/pg" "$pg_port" "-c shared_preload_libraries=pg_stat_statements"
  server="postgresql://postgres@127.0.0.1:$pg_port"
  wait_for_postgres "$server/postgres"
  ensure_database "$server/postgres" llmq_bench
  export DATABASE_URL="$server/llmq_bench"
  log "Postgres on $pg_port (fsync ${PG_FSYNC:-on}, pg_stat_statements loaded)"
fi
if [ -z "${REDIS_URL:-}" ]; then
  ensure_redis_binaries
  redis_port=$(free_port)
  start_redis "$work/redis" "$redis_port"
  export REDIS_URL="redis://127.0.0.1:$redis_port"
  log "Redis on $redis_port"
fi
migrate "$DATABASE_URL"
export BENCH_WORK_DIR="$work"
node --import tsx bench/src/main.ts "$@"
