#!/usr/bin/env bash
# Which index of `tasks` the test suite uses: runs jest like test.sh (extra arguments go to jest) on a
# throwaway Postgres with pg_stat_statements, keeps every test database (TEST_KEEP_DATABASES), then
# scripts/index-usage.ts sums pg_stat_user_indexes over them and lists the distinct statements on tasks.
# Writes the report to INDEX_USAGE_OUT (default /tmp/llmq-index-usage.md). See prisma/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

install_dependencies
ensure_postgres_binaries
ensure_redis_binaries
ensure_chromium

work=$(mktemp -d /tmp/llmq-index-usage.XXXXXX)
chmod 755 "$work"
trap 'stop_throwaway_services "$work"' EXIT

PG_EXTRA_OPTIONS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.max=10000 -c pg_stat_statements.track=all" start_test_services "$work"
log "building the dashboard"
build_dashboard
log "running tests (databases kept)"
TEST_KEEP_DATABASES=1 node_modules/.bin/jest "$@" || log "some tests failed: the figures cover what ran"
node --import tsx scripts/index-usage.ts "${INDEX_USAGE_OUT:-/tmp/llmq-index-usage.md}"
