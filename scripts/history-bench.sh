#!/usr/bin/env bash
# Measures the history queries on the database scripts/fill-history.sh filled (HISTORY_DIR, default
# /tmp/llmq-history): p50 / p99 of each through the repository functions and over HTTP (a spawned API
# process with a private Redis), and each one's plan. HISTORY_RUNS (200) runs a case, HISTORY_ONLY (a
# regular expression) picks cases, HISTORY_HTTP=off skips HTTP, HISTORY_PLANS=none skips plans.
# Report: HISTORY_REPORT (/tmp/llmq-history-report.md), plans: HISTORY_PLANS (/tmp/llmq-history-plans.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

dir=${HISTORY_DIR:-/tmp/llmq-history}
[ -f "$dir/url" ] || die "no history in $dir: run scripts/fill-history.sh first"
install_dependencies
ensure_redis_binaries
url=$(cat "$dir/url")
step "migrating $url" migrate_if_needed "$url"
DATABASE_URL="$url" node --import tsx scripts/history-bench.ts
