#!/usr/bin/env bash
# Installs what is missing, starts a throwaway Postgres, Redis and Redis Cluster on free ports, migrates, type-checks,
# checks the boundaries between packages (a violation fails the run), builds the dashboard, and runs every
# test: the dashboard's unit tests (Vitest), then jest (API, worker, packages, tests/*, and the dashboard's
# browser tests in Chromium). Extra arguments go to jest (e.g. a path filter).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

install_dependencies
ensure_postgres_binaries
ensure_redis_binaries
ensure_chromium
ensure_python_requests

work=$(mktemp -d /tmp/llmq-test.XXXXXX)
chmod 755 "$work"
trap 'stop_throwaway_services "$work"' EXIT

start_test_services "$work"
# The cluster suites' Redis Cluster (apps/api/test/redis-cluster.test.ts); about 2.5 s.
start_test_cluster "$work"

log "type-checking"
node_modules/.bin/tsc -p tsconfig.json
node_modules/.bin/tsc -p apps/dashboard/tsconfig.json
# The dashboard imports @llmq/core: it must compile without Node's types (no Buffer, process, node: modules).
node_modules/.bin/tsc -p packages/core/tsconfig.json
log "checking boundaries (dependency-cruiser: .dependency-cruiser.cjs; every workspace import declared)"
npm run lint:boundaries --silent
step "building the dashboard" build_dashboard_if_changed
log "running the dashboard's unit tests"
npm run test --workspace @llmq/dashboard --silent
log "running tests"
node_modules/.bin/jest "$@"
# The whole run (no path given, as CI's .ci/run does) also proves the Dockerfile: its steps in a clean
# directory, then the image's commands against a throwaway Postgres and Redis (about two minutes).
if [ $# -eq 0 ]; then
  log "running the Dockerfile's steps (scripts/image-steps.sh)"
  ./scripts/image-steps.sh
fi
