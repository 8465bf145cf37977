# Shared shell helpers for scripts/start.sh and scripts/test.sh: installing and starting local
# Postgres and Redis when the caller gave no DATABASE_URL / REDIS_URL.
# shellcheck shell=bash

log() { printf '\033[1m[llmq]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[llmq] %s\033[0m\n' "$*" >&2; exit 1; }

is_debian_root() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

apt_install() {
  if is_debian_root; then
    log "installing $* with apt-get"
    if [ ! -f /tmp/.llmq-apt-updated ]; then
      DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && touch /tmp/.llmq-apt-updated
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || die "apt-get install $* failed"
  else
    die "missing $*; install it with: sudo apt-get install -y $* (or brew install ${1%%-*} on macOS), or set the matching *_URL"
  fi
}

find_pg_bin() {
  local d
  for d in "$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)")" /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  done
  return 1
}

ensure_postgres_binaries() {
  PG_BIN=$(find_pg_bin) || { apt_install postgresql; PG_BIN=$(find_pg_bin) || die "initdb not found after install"; }
  export PG_BIN
}

ensure_redis_binaries() {
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  command -v redis-server >/dev/null 2>&1 || die "redis-server not found after install"
}

# Browser tests drive Debian's Chromium through playwright-core (a browser download does not work here).
ensure_chromium() {
  [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || apt_install chromium
  [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || die "chromium not found after install"
}

# Flexstack's Python examples (docs/examples) run in the tests with Debian's python3 and python3-requests
# (there is no PyPI here); LLMQ_PYTHON names the interpreter for apps/api/test/python-clients.test.ts.
ensure_python_requests() {
  LLMQ_PYTHON=${LLMQ_PYTHON:-/usr/bin/python3}
  "$LLMQ_PYTHON" -c 'import requests' >/dev/null 2>&1 || apt_install python3-requests
  "$LLMQ_PYTHON" -c 'import requests' >/dev/null 2>&1 || die "$LLMQ_PYTHON cannot import requests after installing python3-requests"
  export LLMQ_PYTHON
}

# Builds the dashboard into apps/dashboard/dist, which the API serves at /dashboard.
build_dashboard() {
  quietly "dashboard build" npm run build --workspace @llmq/dashboard
}

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# Postgres refuses to run as root: run it as the postgres user (or the current user when not root).
as_pg_user() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
    su postgres -s /bin/bash -c "$*"
  else
    bash -c "$*"
  fi
}

# start_postgres DATA_DIR PORT [SERVER_OPTIONS]: initialises DATA_DIR on first use, starts the server on
# 127.0.0.1:PORT, with SERVER_OPTIONS (e.g. "-c shared_preload_libraries=pg_stat_statements") and
# PG_EXTRA_OPTIONS (the same, through start_test_services) added.
start_postgres() {
  local dir=$1 port=$2 options=${3:-}
  ensure_postgres_binaries
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && { id postgres >/dev/null 2>&1 || as_pg_user true; chown -R postgres "$dir"; }
  if [ ! -f "$dir/PG_VERSION" ]; then
    as_pg_user "'$PG_BIN/initdb' -D '$dir' -A trust -U postgres --no-sync -E UTF8" >/dev/null || die "initdb failed"
  fi
  as_pg_user "'$PG_BIN/pg_ctl' -D '$dir' -o \"-p $port -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=${PG_FSYNC:-on} $options ${PG_EXTRA_OPTIONS:-}\" -l '$dir/server.log' -w start" >/dev/null \
    || { tail -20 "$dir/server.log" >&2; die "postgres failed to start"; }
}

stop_postgres() {
  local dir=$1
  [ -n "${PG_BIN:-}" ] && [ -f "$dir/postmaster.pid" ] && as_pg_user "'$PG_BIN/pg_ctl' -D '$dir' -m fast -w stop" >/dev/null 2>&1 || true
}

# start_redis DATA_DIR PORT [extra args]: AOF on and noeviction, as a queue's Redis must be.
start_redis() {
  local dir=$1 port=$2; shift 2
  ensure_redis_binaries
  mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --appendonly yes --maxmemory-policy noeviction \
    --save "" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" "$@" >/dev/null \
    || die "redis-server failed to start"
  local i
  for i in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "redis-server did not answer on port $port"
}

stop_redis() {
  local dir=$1
  [ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
}

wait_for_postgres() {
  local url=$1 i
  for i in $(seq 1 100); do
    node -e 'const {Client}=require("pg");const c=new Client({connectionString:process.argv[1]});c.connect().then(()=>c.end()).then(()=>process.exit(0),()=>process.exit(1))' "$url" 2>/dev/null && return 0
    sleep 0.2
  done
  die "postgres at $url is not reachable"
}

# ensure_database SERVER_URL NAME: creates database NAME on the server if it does not exist yet.
ensure_database() {
  node -e '
    const { Client } = require("pg");
    const [url, name] = process.argv.slice(1);
    const client = new Client({ connectionString: url });
    client.connect()
      .then(() => client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]))
      .then((r) => (r.rowCount ? null : client.query(`CREATE DATABASE "${name}"`)))
      .then(() => client.end(), (e) => { console.error(e.message); process.exit(1); });
  ' "$1" "$2" || die "could not create database $2"
}

install_dependencies() {
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "installing npm dependencies"
    # `npm install --no-save` installs the locked versions. Not `npm ci`: npm 11 refuses this lock file
    # because the registry lists no builds of @swc/core and others for platforms we do not run on.
    npm install --no-save --no-audit --no-fund --loglevel=error || die "npm install failed"
  fi
  # The CLI needs some DATABASE_URL even to generate (see ENVIRONMENT notes in prisma/README.md). One run
  # makes Prisma's client and Kysely's table types (the `prisma-kysely` generator, found on PATH).
  quietly "prisma generate" env DATABASE_URL="${DATABASE_URL:-postgresql://localhost/unused}" PATH="$PWD/node_modules/.bin:$PATH" node_modules/.bin/prisma generate
}

migrate() {
  quietly "prisma migrate deploy" env DATABASE_URL="$1" node_modules/.bin/prisma migrate deploy
}

# quietly LABEL CMD...: runs CMD, showing its output only when it fails.
quietly() {
  local label=$1 out; shift
  out=$("$@" 2>&1) || { printf '%s\n' "$out" >&2; die "$label failed"; }
}

# stop_throwaway_services DIR: stops the Postgres and Redis started under DIR (if any) and removes DIR.
stop_throwaway_services() {
  stop_redis "$1/redis"
  stop_postgres "$1/pg"
  rm -rf "$1"
}

# start_test_services DIR: a throwaway Postgres (fsync off) and Redis under DIR on free ports, with the
# migrated template database suites clone; exports TEST_PG_SERVER_URL, TEST_REDIS_URL and TEST_REDIS_DIR.
start_test_services() {
  local dir=$1 pg_port redis_port server
  pg_port=$(free_port)
  redis_port=$(free_port)
  PG_FSYNC=off start_postgres "$dir/pg" "$pg_port"
  start_redis "$dir/redis" "$redis_port"
  server="postgresql://postgres@127.0.0.1:$pg_port"
  wait_for_postgres "$server/postgres"
  # Suites clone this migrated template into a database of their own (CREATE DATABASE ... TEMPLATE).
  ensure_database "$server/postgres" llmq_template
  migrate "$server/llmq_template"
  log "Postgres on $pg_port, Redis on $redis_port"
  export TEST_PG_SERVER_URL="$server"
  export TEST_REDIS_URL="redis://127.0.0.1:$redis_port"
  export TEST_REDIS_DIR="$dir/redis"
}
