#!/usr/bin/env bash
# The 10-million-task history (docs/performance.md, "History at 10 million rows"):
#   scripts/fill-history.sh            fills a throwaway Postgres under HISTORY_DIR (default /tmp/llmq-history)
#   scripts/fill-history.sh --stop     stops it and deletes its files (about 35 GB at 10 M rows: table, indexes, WAL)
#   scripts/fill-history.sh --into URL fills that database instead: migrated here, refused unless it holds no user or task
# HISTORY_ROWS (10000000), HISTORY_KEYS (1000) and HISTORY_DAYS (60) shape it (packages/testkit/src/history-fill.ts).
# The server keeps running after the fill, so scripts/history-bench.sh can measure it; its URL is in
# HISTORY_DIR/url. A DATABASE_URL in the environment is never used: the developer's database is not filled by accident.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

dir=${HISTORY_DIR:-/tmp/llmq-history}
if [ "${1:-}" = --stop ]; then
  ensure_postgres_binaries
  stop_postgres "$dir/pg"
  rm -rf "$dir"
  log "stopped and removed $dir"
  exit 0
fi

install_dependencies
if [ "${1:-}" = --into ]; then
  url=${2:?--into needs a database URL}
else
  [ -f "$dir/url" ] && die "$dir already holds a history ($(cat "$dir/url")): measure it, or scripts/fill-history.sh --stop first"
  mkdir -p "$dir" && chmod 755 "$dir"
  port=$(free_port)
  # Fast to fill (no fsync, minimal WAL); shared_buffers as a small production server would have it.
  start_postgres "$dir/pg" "$port" "-c fsync=off -c full_page_writes=off -c wal_level=minimal -c max_wal_senders=0 -c max_wal_size=16GB -c shared_buffers=1GB -c checkpoint_timeout=30min"
  server="postgresql://postgres@127.0.0.1:$port"
  wait_for_postgres "$server/postgres"
  ensure_database "$server/postgres" llmq_history
  url="$server/llmq_history"
  echo "$url" > "$dir/url"
fi
step "migrating $url" migrate "$url"
STEP_OWN_LINE=1 step "filling ${HISTORY_ROWS:-10000000} tasks" env DATABASE_URL="$url" node --import tsx scripts/fill-history.ts
if [ "${1:-}" = --into ]; then log "filled: $url"; else log "filled: $url (stop and delete with scripts/fill-history.sh --stop)"; fi
