#!/usr/bin/env bash
# Installs what is missing and runs the service: API + worker(s) on http://127.0.0.1:${PORT:-3000}.
# Uses DATABASE_URL / REDIS_URL when set; otherwise runs a local Postgres and Redis with data in .data/.
# Ctrl-C stops everything this script started. LLMQ_SKIP_INSTALL=1 skips `npm install` and
# `prisma generate` (the caller did them: e.g. the test of this script's supervision).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_node
if [ "${LLMQ_SKIP_INSTALL:-}" != 1 ]; then
  install_dependencies
  log "building the dashboard"
  build_dashboard
  # NODE_ENV=production runs the built JavaScript (below), built here from these sources.
  if [ "${NODE_ENV:-}" = production ]; then
    log "building the services (NODE_ENV=production runs the built JavaScript)"
    build_services
  fi
fi
mkdir -p .data
chmod 755 .data

PIDS=()
STARTED_PG=""
STARTED_REDIS=""
stopping=""
cleanup() {
  [ -n "$stopping" ] && return
  stopping=1
  # Ctrl-C may have closed our output too (e.g. `start.sh | tee`): stop everything even then.
  trap '' PIPE
  log "stopping" 2>/dev/null || true
  local pid
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && wait "$pid" 2>/dev/null || true; done
  [ -n "$STARTED_REDIS" ] && stop_redis .data/redis
  [ -n "$STARTED_PG" ] && stop_postgres "$PWD/.data/postgres"
  log "stopped" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "${DATABASE_URL:-}" ]; then
  pg_port=$(free_port)
  log "starting Postgres (data in .data/postgres, port $pg_port)"
  start_postgres "$PWD/.data/postgres" "$pg_port"
  STARTED_PG=1
  ensure_database "postgresql://postgres@127.0.0.1:$pg_port/postgres" llmq
  export DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/llmq"
fi
if [ -z "${REDIS_URL:-}" ]; then
  redis_port=$(free_port)
  log "starting Redis (data in .data/redis, port $redis_port)"
  start_redis "$PWD/.data/redis" "$redis_port"
  STARTED_REDIS=1
  export REDIS_URL="redis://127.0.0.1:$redis_port"
fi
wait_for_postgres "$DATABASE_URL"
log "applying migrations"
migrate "$DATABASE_URL"

if [ -z "${ADMIN_API_KEY:-}" ]; then
  if [ ! -s .data/admin_api_key ]; then
    (umask 077; node -e 'console.log("llmq_admin_" + require("crypto").randomBytes(24).toString("base64url"))' > .data/admin_api_key)
  fi
  ADMIN_API_KEY=$(cat .data/admin_api_key)
fi
export ADMIN_API_KEY
# Access tokens are signed with this; kept so sessions survive a restart.
if [ -z "${AUTH_JWT_SECRET:-}" ]; then
  if [ ! -s .data/jwt_secret ]; then
    (umask 077; node -e 'console.log(require("crypto").randomBytes(48).toString("base64url"))' > .data/jwt_secret)
  fi
  AUTH_JWT_SECRET=$(cat .data/jwt_secret)
fi
export AUTH_JWT_SECRET
# ADMIN_EMAIL and ADMIN_PASSWORD, when both set, reach the API as they are: it creates that admin account
# on start-up unless the email exists already.
export PORT=${PORT:-3000}
export MODELS_FILE=${MODELS_FILE:-config/models.yaml}

# supervise NAME CMD...: runs CMD, starting it again (with a short backoff) whenever it dies, as a
# container restart policy would; stops when this script stops.
supervise() {
  local name=$1; shift
  (
    trap 'kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; exit 0' TERM INT
    delay=1
    while true; do
      "$@" &
      child=$!
      started=$SECONDS
      wait "$child" && status=0 || status=$?
      [ $((SECONDS - started)) -gt 30 ] && delay=1
      log "$name exited with status $status; restarting in ${delay}s"
      sleep "$delay"
      delay=$(( delay < 16 ? delay * 2 : 16 ))
    done
  ) &
  PIDS+=($!)
}

# The API runs as API_PROCESSES processes (default: one per core) sharing $PORT: its primary forks them,
# replaces any that dies, and drains them all on SIGTERM.
# NODE_ENV=production runs the build (`npm run build`: apps/*/dist); otherwise the TypeScript sources run
# through tsx, as in development.
if [ "${NODE_ENV:-}" = production ]; then
  [ -f apps/api/dist/main.js ] && [ -f apps/worker/dist/main.js ] || die "NODE_ENV=production runs the built services: run npm run build first"
  api_command=(node --enable-source-maps apps/api/dist/main.js)
  worker_command=(node --enable-source-maps apps/worker/dist/main.js)
else
  api_command=(node --import tsx apps/api/src/main.ts)
  worker_command=(node --import tsx apps/worker/src/main.ts)
fi
supervise api "${api_command[@]}"
for i in $(seq 1 "${WORKER_PROCESSES:-1}"); do
  supervise "worker-$i" "${worker_command[@]}"
done

url="http://127.0.0.1:$PORT"
for _ in $(seq 1 150); do
  curl -fsS "$url/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "$url/readyz" >/dev/null 2>&1 || die "the API did not become ready at $url (see the logs above)"

cat <<INFO

  llmq is running at $url
    Dashboard:   $url/dashboard/   (sign in with the admin key below, or a user's email and password)
    API docs:    $url/docs   (OpenAPI: $url/openapi.json)
    Admin key:   $ADMIN_API_KEY
$( [ -n "${ADMIN_EMAIL:-}" ] && echo "    Admin user:  $ADMIN_EMAIL (sign in with POST $url/v1/auth/login and ADMIN_PASSWORD)" )
    Models:      $MODELS_FILE

  Try it:
    curl -s $url/v1/ai/text_completion -H "Authorization: Bearer $ADMIN_API_KEY" -H 'Content-Type: application/json' \\
      -d '{"messages":[{"role":"user","content":"Hello, have a good day!"}],"configs":{"model":"gemma-7b","max_tokens":1024,"top_k":10,"top_p":0.9,"temperature":0}}'

  Press Ctrl-C to stop.

INFO
wait
