#!/usr/bin/env bash
# Installs what is missing and runs the service: API + worker(s) on http://127.0.0.1:${PORT:-3000}.
# Uses DATABASE_URL / REDIS_URL (or REDIS_CLUSTER_NODES) when set; otherwise runs a local Postgres and Redis with data in .data/.
# Ctrl-C stops everything this script started. LLMQ_SKIP_INSTALL=1 skips `npm install` and
# `prisma generate` (the caller did them: e.g. the test of this script's supervision).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

mkdir -p .data
chmod 755 .data
# One start.sh per data directory when it runs the local Postgres or Redis: a second one would start
# another server on the same files (and, failing, stop the first one's). A pid file, not flock: the
# servers it starts would inherit a lock's descriptor and hold it after a kill -9.
if [ -z "${DATABASE_URL:-}" ] || [ -z "${REDIS_URL:-}${REDIS_CLUSTER_NODES:-}" ]; then
  other=$(cat .data/start.pid 2>/dev/null || true)
  if [ -n "$other" ] && [ "$other" != $$ ] && grep -qs "start.sh" "/proc/$other/cmdline"; then
    die "another scripts/start.sh (pid $other) is running with this .data/ directory; stop it first (Ctrl-C in its terminal)"
  fi
  echo $$ > .data/start.pid
fi
# Each step says what it does and how long it took; what is already done (dependencies installed, Prisma's
# client generated from the same schema, the dashboard built from the same sources, every migration
# applied) is checked and skipped, so a second start takes a few seconds.
start_ns=$(date +%s%N)
ensure_node
if [ "${LLMQ_SKIP_INSTALL:-}" != 1 ]; then
  step "checking dependencies" install_dependencies
  step "building the dashboard" build_dashboard_if_changed
  # NODE_ENV=production runs the built JavaScript (below), built here from these sources.
  if [ "${NODE_ENV:-}" = production ]; then
    step "building the services (NODE_ENV=production runs the built JavaScript)" build_services
  fi
fi

PIDS=()
STARTED_PG=""
STARTED_REDIS=""
stopping=""
cleanup() {
  [ -n "$stopping" ] && return
  stopping=1
  # Ctrl-C may have closed our output too (e.g. `start.sh | tee`): stop everything even then.
  trap '' PIPE
  # Said on stdout, which a terminal shows (stderr may be closed or redirected by now).
  printf '\n[llmq] stopping…\n' 2>/dev/null || true
  local pid
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && wait "$pid" 2>/dev/null || true; done
  [ -n "$STARTED_REDIS" ] && stop_redis .data/redis
  [ -n "$STARTED_PG" ] && stop_postgres "$PWD/.data/postgres"
  [ "$(cat .data/start.pid 2>/dev/null)" != $$ ] || rm -f .data/start.pid
  printf '[llmq] stopped\n' 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_local_services: the local Postgres and Redis the caller's URLs do not replace, started side by side.
start_local_services() {
  local redis_pid="" started=()
  if [ -n "$redis_port" ]; then
    ensure_redis_binaries
    STARTED_REDIS=1
    start_redis "$PWD/.data/redis" "$redis_port" &
    redis_pid=$!
    started+=("Redis on port $redis_port")
  fi
  if [ -n "$pg_port" ]; then
    start_postgres "$PWD/.data/postgres" "$pg_port"
    STARTED_PG=1
    ensure_database "postgresql://postgres@127.0.0.1:$pg_port/postgres" llmq
    started+=("Postgres on port $pg_port")
  fi
  [ -z "$redis_pid" ] || wait "$redis_pid" || die "Redis did not start (see .data/redis/redis.log)"
  STEP_RESULT="$(IFS=,; echo "${started[*]}" | sed 's/,/, /g'), data in .data/"
}
pg_port=""
redis_port=""
if [ -z "${DATABASE_URL:-}" ] || [ -z "${REDIS_URL:-}${REDIS_CLUSTER_NODES:-}" ]; then
  read -r port_a port_b < <(free_ports 2)
  [ -n "${DATABASE_URL:-}" ] || pg_port=$port_a
  [ -n "${REDIS_URL:-}${REDIS_CLUSTER_NODES:-}" ] || redis_port=$port_b
fi
if [ -n "$pg_port$redis_port" ]; then
  step "starting $( [ -n "$pg_port" ] && echo Postgres )$( [ -n "$pg_port" ] && [ -n "$redis_port" ] && echo " and " )$( [ -n "$redis_port" ] && echo Redis )" start_local_services
fi
[ -z "$pg_port" ] || export DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/llmq"
[ -z "$redis_port" ] || export REDIS_URL="redis://127.0.0.1:$redis_port"
# A Postgres of the caller's may still be starting (e.g. in docker compose); ours is up already.
[ -n "$pg_port" ] || wait_for_postgres "$DATABASE_URL"
step "checking migrations" migrate_if_needed "$DATABASE_URL"

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

# The API runs as API_PROCESSES processes (default: one per core) sharing $PORT (each its own SO_REUSEPORT
# socket, so the kernel spreads connections over them): its primary forks them,
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
# wait_until_ready: polls /readyz every 0.1 s, for up to 30 s.
wait_until_ready() {
  local i
  for i in $(seq 1 300); do
    curl -fsS "$url/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "the API did not become ready at $url (see the logs above)"
}
STEP_OWN_LINE=1 step "starting the API and worker" wait_until_ready

admin_user=""
[ -z "${ADMIN_EMAIL:-}" ] || admin_user="
    Admin user:  $ADMIN_EMAIL (sign in with POST $url/v1/auth/login and ADMIN_PASSWORD)"
# The simulated provider's pace, when the models file sets one (config/models.yaml does: slow enough to watch).
pace=$(sed -n 's/^[[:space:]]*simulated:.*tokens_per_second:[[:space:]]*\([0-9.]*\).*/\1/p' "$MODELS_FILE" 2>/dev/null | head -1)

cat <<INFO

  llmq is running at $url (ready in $(elapsed_since "$start_ns"))
    Dashboard:   $url/dashboard/   (sign in with the admin key below, or a user's email and password)
    API docs:    $url/docs   (OpenAPI: $url/openapi.json)
    Admin key:   $ADMIN_API_KEY$admin_user
    Models:      $MODELS_FILE${pace:+ (the simulated model writes $pace tokens/s: change tokens_per_second there, or set MODELS_FILE)}

  Try it:
    curl -s $url/v1/ai/text_completion -H "Authorization: Bearer $ADMIN_API_KEY" -H 'Content-Type: application/json' \\
      -d '{"messages":[{"role":"user","content":"Hello, have a good day!"}],"configs":{"model":"gemma-7b","max_tokens":1024,"top_k":10,"top_p":0.9,"temperature":0}}'

  Press Ctrl-C to stop.

INFO
wait
