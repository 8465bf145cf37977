#!/usr/bin/env bash
# Proves the Dockerfile without a Docker engine: reads it and runs its steps, with the same commands, in a
# clean temporary directory (one directory per stage, the build context a `git archive` of the working
# tree's tracked files with .dockerignore applied), on the Node.js of its FROM line. Then, from the runtime
# stage's directory and as an unprivileged user (like the image's USER), it runs docker-compose.yml's
# `migrate`, `api` (the image's CMD) and `worker` commands against a throwaway Postgres and Redis, waits
# for the image's HEALTHCHECK to pass, and checks the README's completion, the dashboard, the CLI and that
# the production install holds no compiler, test runner or bundler. Run by ./scripts/test.sh (CI).
# Usage: ./scripts/image-steps.sh [--keep] (--keep leaves the directory for a look).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

keep=""
[ "${1:-}" = --keep ] && keep=1
repo=$PWD
work=$(mktemp -d /tmp/llmq-image.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]:-}"; do [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true; done
  # They drain and stop while Postgres and Redis still run; one that is still there after 30 s is killed.
  for pid in "${pids[@]:-}"; do
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  done
  stop_redis "$work/services/redis"
  stop_postgres "$work/services/pg"
  if [ -n "$keep" ]; then log "left $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The build context: tracked files as they are in the working tree (`git stash create` makes a commit of
# uncommitted changes without touching anything; untracked files are not part of it), minus .dockerignore.
log "image steps: the build context from git (in $work)"
mkdir -p "$work/context"
snapshot=$(git stash create 2>/dev/null || true)
git archive "${snapshot:-HEAD}" | tar -x -C "$work/context"
(
  cd "$work/context"
  shopt -s globstar dotglob nullglob
  while IFS= read -r pattern || [ -n "$pattern" ]; do
    case $pattern in '' | '#'*) continue ;; esac
    # shellcheck disable=SC2086 # the pattern is a glob on purpose
    for match in $pattern **/$pattern; do rm -rf "$match"; done
  done < .dockerignore
)

# The Dockerfile as a list of instructions (continuation lines joined, comments dropped), one JSON array
# [INSTRUCTION, ARGUMENTS] a line.
instructions=$(node -e '
  const text = require("fs").readFileSync(process.argv[1], "utf8").replace(/\\\n/g, " ");
  for (const line of text.split("\n")) {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith("#")) continue;
    const [, word, rest] = /^(\S+)\s*(.*)$/.exec(trimmed);
    console.log(JSON.stringify([word.toUpperCase(), rest]));
  }' Dockerfile)

field() { node -e 'console.log(JSON.parse(process.argv[1])[Number(process.argv[2])])' "$1" "$2"; }

# The Node.js of the FROM line: the one these steps run on (the image brings it; here lib.sh fetches it).
from_image=$(grep -m1 -oE '^FROM [^ ]+' Dockerfile | cut -d' ' -f2)
image_node=$(echo "$from_image" | sed -nE 's/^node:([0-9]+\.[0-9]+\.[0-9]+)-.*/\1/p')
[ -n "$image_node" ] || die "the Dockerfile's first FROM ($from_image) names no exact Node.js version (node:X.Y.Z-...)"
[ "$image_node" = "$LLMQ_NODE_VERSION" ] || die "the Dockerfile's Node.js ($image_node) is not scripts/lib.sh's LLMQ_NODE_VERSION ($LLMQ_NODE_VERSION)"
ensure_node
[ "$(node -p process.versions.node)" = "$image_node" ] || die "these steps need Node.js $image_node on PATH (found $(node -v)); scripts/lib.sh's ensure_node uses it when the system node is older"
node_bin=$(command -v node)

# Runs the stages: each one a directory under $work/stages, its WORKDIR inside it, its ENV exported to RUN.
stage="" root="" workdir="/" envs=() user="" cmd="" healthcheck=""
declare -A stage_dir stage_env
inside() { case $1 in /*) echo "$root$1" ;; *) echo "$root$workdir/$1" ;; esac; }
started=$SECONDS
while IFS= read -r line; do
  word=$(field "$line" 0)
  args=$(field "$line" 1)
  case $word in
    FROM)
      read -r image _ name <<<"$args"
      stage=${name:-stage$RANDOM}
      root="$work/stages/$stage"
      mkdir -p "$root"
      if [ -n "${stage_dir[$image]:-}" ]; then cp -a "${stage_dir[$image]}/." "$root/"; fi
      stage_dir[$stage]=$root
      # A stage starts with the ENV of the stage it is FROM (none from an image: its own are its Node's).
      envs=()
      if [ -n "${stage_env[$image]:-}" ]; then mapfile -t envs <<<"${stage_env[$image]}"; fi
      log "image steps: stage $stage (FROM $image)"
      ;;
    WORKDIR) workdir=$args; mkdir -p "$(inside "$workdir")" ;;
    ENV)
      [[ $args == *=* ]] || die "write ENV as ENV KEY=VALUE"
      envs+=("$args")
      stage_env[$stage]=$(printf '%s\n' "${envs[@]}")
      ;;
    COPY)
      from="$work/context"
      read -r -a parts <<<"$args"
      if [[ ${parts[0]} == --from=* ]]; then from=${stage_dir[${parts[0]#--from=}]}; parts=("${parts[@]:1}"); fi
      dest=$(inside "${parts[-1]}")
      for src in "${parts[@]:0:${#parts[@]}-1}"; do
        case $src in /*) src="$from$src" ;; *) src="$from/$src" ;; esac
        # Docker's rules: a directory's contents go into DEST; a file goes into DEST when DEST ends with /.
        if [ -d "$src" ]; then mkdir -p "$dest" && cp -a "$src/." "$dest/"
        elif [[ ${parts[-1]} == */ ]]; then mkdir -p "$dest" && cp -a "$src" "$dest"
        else mkdir -p "$(dirname "$dest")" && cp -a "$src" "$dest"; fi
      done
      ;;
    RUN)
      log "image steps: RUN $args"
      (cd "$(inside .)" && env "${envs[@]}" sh -c "$args") || die "RUN $args failed (stage $stage)"
      ;;
    USER) user=$args ;;
    CMD) cmd=$args ;;
    HEALTHCHECK) healthcheck=$(sed -E 's/^.*CMD //' <<<"$args") ;;
    EXPOSE) ;;
    *) die "scripts/image-steps.sh does not know the Dockerfile instruction $word: teach it, or keep the Dockerfile to what it knows" ;;
  esac
done <<<"$instructions"
log "image steps: built in $((SECONDS - started)) s; the image is stage $stage ($root)"
[ -n "$user" ] && [ "$user" != root ] || die "the runtime stage must run as an unprivileged USER"
[ -n "$cmd" ] && [ -n "$healthcheck" ] || die "the runtime stage needs a CMD and a HEALTHCHECK"
app=$(inside .)

# The production install holds no compiler, test runner or bundler.
for tool in typescript jest tsx esbuild vite @swc/core turbo prisma-kysely vitest; do
  [ ! -e "$app/node_modules/$tool" ] || die "the runtime stage's node_modules holds $tool (a dev tool)"
done
log "image steps: node_modules holds no typescript, jest, tsx, esbuild, vite, @swc/core, turbo ($(du -sm "$app/node_modules" | cut -f1) MB)"

# The image's node, where an unprivileged user can run it (/usr/local/bin/node in the image).
mkdir -p "$work/node/bin" && cp "$node_bin" "$work/node/bin/node"
chmod -R a+rX "$work/node" "$work/stages"
image_user=()
[ "$(id -u)" = 0 ] && image_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)

# Runs a JSON exec-form command in the image's WORKDIR with the image's ENV and the service's settings (the
# process replaces the shell: `image_exec ... &` leaves its pid in $!; run_in_image runs it in a subshell).
pg_port=$(free_port)
redis_port=$(free_port)
port=$(free_port)
admin_key="llmq_admin_$(node -e 'console.log(require("crypto").randomBytes(18).toString("hex"))')"
image_exec() {
  local json=$1; shift
  local -a command
  mapfile -t command < <(node -e 'for (const part of JSON.parse(process.argv[1])) console.log(part)' "$json")
  cd "$app"
  exec "${image_user[@]}" env -i PATH="$work/node/bin:/usr/bin:/bin" HOME=/nonexistent "${envs[@]}" \
    DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/llmq" REDIS_URL="redis://127.0.0.1:$redis_port" \
    PORT="$port" ADMIN_API_KEY="$admin_key" AUTH_JWT_SECRET="$(node -e 'console.log(require("crypto").randomBytes(32).toString("hex"))')" \
    API_PROCESSES=1 LOG_LEVEL=warn WORKER_MODELS=all "$@" "${command[@]}"
}
run_in_image() { (image_exec "$@"); }
compose_command() {
  node -e 'const d = require("yaml").parse(require("fs").readFileSync("docker-compose.yml", "utf8")); console.log(JSON.stringify(d.services[process.argv[1]].command))' "$1"
}

start_postgres "$work/services/pg" "$pg_port"
start_redis "$work/services/redis" "$redis_port"
wait_for_postgres "postgresql://postgres@127.0.0.1:$pg_port/postgres"
ensure_database "postgresql://postgres@127.0.0.1:$pg_port/postgres" llmq

log "image steps: docker-compose.yml's migrate: $(compose_command migrate)"
run_in_image "$(compose_command migrate)" >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; die "migrations failed in the image"; }
[ "$(compose_command api)" = "$(node -e 'console.log(JSON.stringify(JSON.parse(process.argv[1])))' "$cmd")" ] \
  || die "docker-compose.yml's api command is not the image's CMD ($cmd)"
log "image steps: the image's CMD $cmd and docker-compose.yml's worker: $(compose_command worker)"
image_exec "$cmd" >"$work/api.log" 2>&1 &
pids+=($!)
image_exec "$(compose_command worker)" >"$work/worker.log" 2>&1 &
pids+=($!)

healthy=""
for _ in $(seq 1 120); do
  if run_in_image "$healthcheck" >/dev/null 2>&1; then healthy=1; break; fi
  sleep 0.5
done
[ -n "$healthy" ] || { cat "$work/api.log" "$work/worker.log" >&2; die "the image's HEALTHCHECK did not pass within 60 s"; }
log "image steps: HEALTHCHECK passes"

url="http://127.0.0.1:$port"
answer=$(curl -sS "$url/v1/ai/text_completion" -H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' \
  -d '{"messages":[{"role":"user","content":"Hello, have a good day!"}],"configs":{"model":"gemma-7b","max_tokens":64,"top_k":10,"top_p":0.9,"temperature":0}}')
node -e '
  const a = JSON.parse(process.argv[1]);
  if (a.data?.is_success !== true || a.data?.data?.status !== "COMPLETED" || !a.data.data.response) { console.error(process.argv[1]); process.exit(1); }' "$answer" \
  || { cat "$work/api.log" "$work/worker.log" >&2; die "the README's completion did not complete in the image"; }
log "image steps: the README's completion: COMPLETED"
curl -fsS "$url/dashboard/" | grep -q '<div id="root">' || die "the image does not serve the built dashboard at /dashboard/"
log "image steps: /dashboard/ serves the built dashboard"
run_in_image '["node", "apps/cli/bin/llmq.js", "--help"]' | grep -q "Usage: llmq" || die "the CLI does not run in the image"
log "image steps: the CLI runs from its build"
if grep -q '"level":50\|"level":60' "$work/api.log" "$work/worker.log"; then cat "$work/api.log" "$work/worker.log" >&2; die "the services logged errors"; fi
log "image steps: passed in $((SECONDS - started)) s"
