# Shared shell helpers for scripts/start.sh and scripts/test.sh: installing and starting local
# Postgres and Redis when the caller gave no DATABASE_URL / REDIS_URL.
# shellcheck shell=bash

# The repository these scripts belong to, wherever they are run from.
LLMQ_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf '\033[1m[llmq]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[llmq] %s\033[0m\n' "$*" >&2; exit 1; }

# step LABEL CMD...: says what it is doing ("LABEL…"), runs CMD, then says how long it took. In a
# terminal the two make one line ("[llmq] building the dashboard… 2.1 s"); in a log, two. CMD may set
# STEP_RESULT to say what it found ("up to date", "3 applied"), shown after the time. STEP_OWN_LINE=1:
# the first line ends at once (for a CMD whose processes print lines of their own).
step() {
  local label=$1 started result
  shift
  started=$(date +%s%N)
  STEP_RESULT=""
  if [ -t 2 ] && [ "${STEP_OWN_LINE:-}" != 1 ]; then printf '\033[1m[llmq]\033[0m %s…' "$label" >&2; else log "$label…"; fi
  "$@"
  result="$(elapsed_since "$started")${STEP_RESULT:+, $STEP_RESULT}"
  # \r rewrites the line, so whatever CMD printed in between stays above, never in the middle.
  if [ -t 2 ] && [ "${STEP_OWN_LINE:-}" != 1 ]; then printf '\r\033[K\033[1m[llmq]\033[0m %s… %s\n' "$label" "$result" >&2; else log "$label: $result"; fi
}

# elapsed_since NANOSECONDS: the time since then, as "0.4 s".
elapsed_since() {
  local ms=$(( ($(date +%s%N) - $1) / 1000000 ))
  printf '%d.%d s' $((ms / 1000)) $((ms % 1000 / 100))
}

# tree_hash PATH...: one SHA-256 over the names and contents of the source files under PATH
# (node_modules, dist, generated and test directories left out). In a git checkout the files are those
# git tracks or would track (untracked but not ignored), less the boundary test's probes: files that test
# writes into src/ for a moment, which must not make a start rebuild the dashboard. Elsewhere (an image's
# build context has no .git) every file.
tree_hash() {
  {
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
      git ls-files -z --cached --others --exclude-standard -- "$@" \
        | tr '\0' '\n' | grep -Ev '(^|/)(node_modules|dist|generated|test)/|/zz-boundary-probe-[^/]*$' | tr '\n' '\0' \
        | xargs -0 -r sh -c 'for f; do [ -f "$f" ] && printf "%s\0" "$f"; done' sh
    else
      find "$@" \( -name node_modules -o -name dist -o -name generated -o -name test \) -prune -o -type f -print0
    fi
  } | LC_ALL=C sort -z | xargs -0 -r sha256sum | sha256sum | cut -d' ' -f1
}

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

# The sources a dashboard build is made of: its own files, the workspace packages it bundles, the lock file.
DASHBOARD_STAMP=apps/dashboard/dist/.sources-sha256
dashboard_sources_hash() { tree_hash apps/dashboard packages package-lock.json tsconfig.base.json; }

# Builds the dashboard unless apps/dashboard/dist was built from the same sources (a stamp in dist/
# holds their hash), as start.sh does on every start.
build_dashboard_if_changed() {
  local hash
  hash=$(dashboard_sources_hash)
  if [ -f apps/dashboard/dist/index.html ] && [ "$(cat "$DASHBOARD_STAMP" 2>/dev/null)" = "$hash" ]; then
    STEP_RESULT="up to date, not rebuilt"
    return 0
  fi
  build_dashboard
  printf '%s\n' "$hash" > "$DASHBOARD_STAMP"
  STEP_RESULT="built"
}

# free_port / free_ports N: one, or N distinct, loopback ports for servers to start on: below the kernel's
# ephemeral range, free when checked and reserved for this caller for a while (packages/testkit/src/ports.ts
# says why; every finder on the machine shares its reservations). Node runs the TypeScript as it is.
free_port() {
  free_ports 1
}
free_ports() {
  node --disable-warning=MODULE_TYPELESS_PACKAGE_JSON --input-type=module -e '
    const { freePorts } = await import(process.argv[2]);
    console.log((await freePorts(Number(process.argv[1]))).join(" "));
  ' "$1" "$LLMQ_REPO/packages/testkit/src/ports.ts"
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

# start_redis DATA_DIR PORT [extra args]: AOF on and noeviction, as a queue's Redis must be, and streams in
# nodes of 2 KiB (a waiting task's one-entry event stream takes about 2.7 KB instead of 4.8: docs/deploying.md).
start_redis() {
  local dir=$1 port=$2; shift 2
  ensure_redis_binaries
  mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --appendonly yes --maxmemory-policy noeviction \
    --stream-node-max-bytes 2048 --save "" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" "$@" >/dev/null \
    || die "redis-server failed to start"
  wait_for_own_redis "$port" "$dir"
}

# wait_for_own_redis PORT DIR: waits (up to 5 s) until the redis-server started with DIR/redis.pid
# answers on PORT; dies if it does not, or if another Redis answers there (ours then failed to bind).
wait_for_own_redis() {
  local port=$1 dir=$2 i
  for i in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-cli -p "$port" ping >/dev/null 2>&1 || die "redis-server did not answer on port $port (see $dir/redis.log)"
  [ "$(redis-cli -p "$port" info server | sed -n 's/^process_id:\([0-9]*\).*/\1/p')" = "$(cat "$dir/redis.pid" 2>/dev/null)" ] \
    || die "another Redis answers on port $port, not the one started there (see $dir/redis.log)"
}

stop_redis() {
  local dir=$1
  [ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
}

# start_redis_cluster DIR: a local Redis Cluster under DIR: three masters and three replicas (Debian's
# redis-server, cluster mode, AOF on, noeviction and 2 KiB stream nodes as start_redis runs one) on free ports, joined with
# `redis-cli --cluster create --cluster-replicas 1`. A short cluster-node-timeout (REDIS_CLUSTER_NODE_TIMEOUT_MS,
# default 1500) makes a replica take over a dead master within a few seconds; replicas always may
# (cluster-replica-validity-factor 0). Returns once every node says cluster_state:ok; writes the seed list
# (host:port,...) to DIR/seeds and each node's directory is DIR/<port> (redis.pid, redis.log). The testkit's
# startPrivateRedisCluster runs this same function.
start_redis_cluster() {
  local dir=$1 ports buses free port i ok seeds=""
  ensure_redis_binaries
  mkdir -p "$dir"
  # Twelve ports found free: six for clients, six for the nodes' cluster bus. The bus is given its own
  # (--cluster-port) rather than Redis's default client port + 10000, which nobody checked was free (a node
  # once failed to start because another process held it).
  read -r -a free <<< "$(free_ports 12)"
  ports=("${free[@]:0:6}")
  buses=("${free[@]:6:6}")
  for i in "${!ports[@]}"; do
    port=${ports[$i]}
    mkdir -p "$dir/$port"
    redis-server --port "$port" --cluster-port "${buses[$i]}" --bind 127.0.0.1 --dir "$dir/$port" --cluster-enabled yes --cluster-config-file nodes.conf \
      --cluster-node-timeout "${REDIS_CLUSTER_NODE_TIMEOUT_MS:-1500}" --cluster-replica-validity-factor 0 \
      --appendonly yes --maxmemory-policy noeviction --stream-node-max-bytes 2048 --save "" \
      --daemonize yes --pidfile "$dir/$port/redis.pid" --logfile "$dir/$port/redis.log" >/dev/null \
      || die "redis-server (cluster node on $port) failed to start"
    seeds+="${seeds:+,}127.0.0.1:$port"
  done
  for port in "${ports[@]}"; do
    wait_for_own_redis "$port" "$dir/$port"
  done
  redis-cli --cluster create $(printf '127.0.0.1:%s ' "${ports[@]}") --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 \
    || { cat "$dir/create.log" >&2; die "redis-cli --cluster create failed"; }
  for i in $(seq 1 200); do
    ok=1
    for port in "${ports[@]}"; do
      redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || { ok=0; break; }
    done
    [ "$ok" = 1 ] && break
    sleep 0.1
  done
  [ "$ok" = 1 ] || die "the Redis Cluster under $dir did not reach cluster_state:ok"
  # Replicas in sync with their masters, so a master killed at once already has a replica to take over.
  for port in "${ports[@]}"; do
    for i in $(seq 1 100); do
      redis-cli -p "$port" info replication 2>/dev/null | grep -qE '^(role:master|master_link_status:up)' && break
      sleep 0.1
    done
  done
  printf '%s\n' "$seeds" > "$dir/seeds"
}

# start_test_cluster DIR: the Redis Cluster the cluster suites share, under DIR/redis-cluster (stopped by
# stop_throwaway_services DIR); exports its seeds as TEST_REDIS_CLUSTER_NODES.
start_test_cluster() {
  start_redis_cluster "$1/redis-cluster"
  TEST_REDIS_CLUSTER_NODES=$(cat "$1/redis-cluster/seeds")
  export TEST_REDIS_CLUSTER_NODES
  log "Redis Cluster (3 masters, 3 replicas) on $TEST_REDIS_CLUSTER_NODES"
}

# stop_redis_cluster DIR: stops every node start_redis_cluster started under DIR.
stop_redis_cluster() {
  local pidfile
  for pidfile in "$1"/*/redis.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
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

# The Node.js llmq runs on. package.json's engines (>= the major), the Dockerfile's base image and the apps'
# start-up check (packages/core/src/node-version.ts) say the same: packages/core/test/node-version.test.ts.
LLMQ_NODE_VERSION=24.22.3

# ensure_node: when the node on PATH is older than LLMQ_NODE_VERSION's major, uses Node LLMQ_NODE_VERSION
# from .node/ (fetched once from the npm registry's node-<os>-<arch> package, beside the project) and puts
# it first on PATH for this script and everything it starts. A recent enough system node is used as it is.
ensure_node() {
  local major=${LLMQ_NODE_VERSION%%.*} have dir os arch tmp
  have=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  [ "$have" -ge "$major" ] && return 0
  dir="$PWD/.node/$LLMQ_NODE_VERSION"
  if [ ! -x "$dir/bin/node" ]; then
    command -v npm >/dev/null 2>&1 || die "llmq needs Node.js $major or later (found $(node -v 2>/dev/null || echo none)) and npm to fetch it: install Node.js $major (https://nodejs.org)"
    os=$(uname -s | tr '[:upper:]' '[:lower:]')
    case $(uname -m) in x86_64 | amd64) arch=x64 ;; aarch64 | arm64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
    log "Node $(node -v 2>/dev/null || echo '(none)') is older than $major: fetching Node $LLMQ_NODE_VERSION into .node/ (once, ~50 MB)"
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack "node-$os-$arch@$LLMQ_NODE_VERSION" --silent --loglevel=error >/dev/null) \
      || { rm -rf "$tmp"; die "could not fetch node-$os-$arch@$LLMQ_NODE_VERSION from the npm registry: install Node.js $major (https://nodejs.org)"; }
    mkdir -p "$tmp/x" && tar xzf "$tmp"/*.tgz -C "$tmp/x" --strip-components=1 || { rm -rf "$tmp"; die "could not unpack Node $LLMQ_NODE_VERSION"; }
    "$tmp/x/bin/node" -e '' || { rm -rf "$tmp"; die "the fetched Node $LLMQ_NODE_VERSION does not run here: install Node.js $major (https://nodejs.org)"; }
    mkdir -p "$(dirname "$dir")" && rm -rf "$dir" && mv "$tmp/x" "$dir" && rm -rf "$tmp"
  fi
  export PATH="$dir/bin:$PATH"
}

# The workspaces a production install serves: their dependencies (and those of the packages they use) only.
PRODUCTION_WORKSPACES=(--workspace=@llmq/api --workspace=@llmq/worker --workspace=@llmq/cli)

# What an install depends on: the lock file and every manifest, the mode and Node's module ABI.
install_fingerprint() {
  node -e '
    const fs = require("fs"), hash = require("crypto").createHash("sha256");
    const files = ["package-lock.json", "package.json", ...require("./package.json").workspaces.flatMap((pattern) =>
      pattern.endsWith("/*") ? fs.readdirSync(pattern.slice(0, -2)).map((d) => `${pattern.slice(0, -2)}/${d}/package.json`) : [`${pattern}/package.json`])];
    for (const file of files.filter((f) => fs.existsSync(f)).sort()) hash.update(file + "\0" + fs.readFileSync(file) + "\0");
    console.log(`${hash.digest("hex")} ${process.argv[1]} abi${process.versions.modules}`);
  ' "$1"
}

# install_complete MODE: the tools and packages the MODE's scripts run are really there (an interrupted or
# differently-moded install leaves some out even when node_modules exists).
install_complete() {
  local f files=(node_modules/.bin/prisma node_modules/@prisma/client/package.json node_modules/adapter-pg-cli/package.json node_modules/express/package.json)
  [ "$1" = dev ] && files+=(node_modules/.bin/tsc node_modules/.bin/tsx node_modules/.bin/jest node_modules/.bin/esbuild node_modules/.bin/prisma-kysely node_modules/vite/package.json)
  for f in "${files[@]}"; do [ -e "$f" ] || return 1; done
}

# install_dependencies [dev|production]: `dev` (the default: start.sh, test.sh, bench.sh) installs every
# package, dev tools included even under NODE_ENV=production, and runs `prisma generate`; `production` (the
# image's runtime stage) installs only what the services need at run time. A stamp in node_modules records
# the fingerprint above, so a changed lock file or manifest, another mode, another Node or a half-finished
# install (no stamp yet, or a key tool missing) installs again.
install_dependencies() {
  local mode=${1:-dev} want
  ensure_node
  want=$(install_fingerprint "$mode")
  if [ "$(cat node_modules/.llmq-install 2>/dev/null)" != "$want" ] || ! install_complete "$mode"; then
    log "installing npm dependencies ($mode)"
    rm -f node_modules/.llmq-install
    # production (an image, a fresh directory): `npm ci`, exactly the lock file, refused when a manifest
    # disagrees with it. dev: `npm install --no-save` installs the locked versions too, but repairs the
    # node_modules in place rather than deleting it first.
    if [ "$mode" = production ]; then
      npm ci --prefer-offline --no-audit --no-fund --loglevel=error --strict-allow-scripts --omit=dev "${PRODUCTION_WORKSPACES[@]}" || die "npm ci failed"
      node scripts/prune-optional-peers.mjs >/dev/null || die "pruning optional peers failed"
    else
      npm install --no-save --prefer-offline --no-audit --no-fund --loglevel=error --strict-allow-scripts --include=dev || die "npm install failed"
    fi
    install_complete "$mode" || die "npm install left out packages the $mode install needs (see node_modules/.bin)"
    echo "$want" > node_modules/.llmq-install
  fi
  [ "$mode" = production ] && return 0
  generate_prisma_client
}

# What the generated client is made from: the schema and the generators' versions.
PRISMA_STAMP=packages/db/src/generated/.schema-sha256
prisma_inputs_hash() {
  cat prisma/schema.prisma node_modules/prisma/package.json node_modules/prisma-kysely/package.json 2>/dev/null | sha256sum | cut -d' ' -f1
}

# Generates Prisma's client and Kysely's table types unless they were generated from the same schema
# (a stamp next to them holds its hash).
generate_prisma_client() {
  local hash
  hash=$(prisma_inputs_hash)
  if [ -d packages/db/src/generated/prisma ] && [ -d packages/db/src/generated/kysely ] && [ "$(cat "$PRISMA_STAMP" 2>/dev/null)" = "$hash" ]; then
    return 0
  fi
  # The CLI needs some DATABASE_URL even to generate (see ENVIRONMENT notes in prisma/README.md). One run
  # makes Prisma's client and Kysely's table types (the `prisma-kysely` generator, found on PATH).
  quietly "prisma generate" env DATABASE_URL="${DATABASE_URL:-postgresql://localhost/unused}" PATH="$PWD/node_modules/.bin:$PATH" node_modules/.bin/prisma generate
  if [ -d "$(dirname "$PRISMA_STAMP")" ]; then printf '%s\n' "$hash" > "$PRISMA_STAMP"; fi
}

# build_services: `npm run build`'s services part (API, worker, CLI bundled into each app's dist/).
build_services() {
  quietly "build" node scripts/build.mjs
}

# migrate DATABASE_URL: applies the migrations of prisma/migrations that the database lacks. The CLI's
# Wasm schema engine leaves a 10-second timer behind after its work, which kept every run alive 10 s
# past "No pending migrations"; scripts/prisma-exit-when-done.cjs lets the process end when only such
# timers are left (and prisma.config.ts lets the pool's idle connection not hold it either).
migrate() {
  quietly "prisma migrate deploy" env DATABASE_URL="$1" NODE_OPTIONS="--require $PWD/scripts/prisma-exit-when-done.cjs ${NODE_OPTIONS:-}" \
    node_modules/.bin/prisma migrate deploy
}

# migrate_if_needed DATABASE_URL: migrate, unless every migration of prisma/migrations is applied already
# (same names and checksums in _prisma_migrations, none failed): one query instead of starting Prisma.
migrate_if_needed() {
  local pending
  pending=$(node scripts/pending-migrations.cjs "$1") || die "could not read the migrations applied to $1"
  if [ "$pending" = 0 ]; then
    STEP_RESULT="all applied already"
    return 0
  fi
  migrate "$1"
  STEP_RESULT="$pending applied"
}

# quietly LABEL CMD...: runs CMD, showing its output only when it fails.
quietly() {
  local label=$1 out; shift
  out=$("$@" 2>&1) || { printf '%s\n' "$out" >&2; die "$label failed"; }
}

# stop_throwaway_services DIR: stops the Postgres and Redis started under DIR (if any) and removes DIR.
stop_throwaway_services() {
  stop_redis "$1/redis"
  stop_redis_cluster "$1/redis-cluster"
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
