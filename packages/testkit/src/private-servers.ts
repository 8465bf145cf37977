/**
 * A Redis or Postgres server of a suite's own, for tests that kill, stop and restart it: the shared
 * servers of scripts/test.sh stay up for every other suite running in parallel.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Client } from "pg";
import { eventually } from "./poll";
import { freePort } from "./ports";

const REPO_ROOT = path.resolve(__dirname, "../../..");


/** The process id of the Redis answering on `port` (from INFO server), or undefined while none answers. */
function redisPidOn(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let reply = "";
    socket.setTimeout(1_000, () => socket.destroy());
    socket.on("connect", () => socket.write("INFO server\r\n"));
    socket.on("data", (chunk) => {
      reply += chunk.toString();
      if (/process_id:\d+\r\n/.test(reply)) socket.end();
    });
    socket.on("close", () => {
      const pid = /process_id:(\d+)/.exec(reply)?.[1];
      resolve(pid === undefined ? undefined : Number(pid));
    });
    socket.on("error", () => undefined);
  });
}

export interface PrivateRedis {
  url: string;
  /** Kills the server (default SIGKILL: nothing is flushed on the way out) and waits for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and data directory (its AOF is replayed). */
  start(): Promise<void>;
  /** Stops it for good and removes its data. */
  destroy(): Promise<void>;
  /** The server as it stands, for a failure's message: its pid, whether it exited (how), and the end of its log. */
  state(): string;
}

export interface PrivateRedisOptions {
  /**
   * AOF fsync policy (redis.conf `appendfsync`): `everysec` (the default, as scripts/lib.sh runs Redis)
   * or `always` (every write on disk before it is acknowledged, so a SIGKILL loses nothing acknowledged).
   */
  appendfsync?: "everysec" | "always";
}

/** redis-server as a child process, AOF on (as scripts/lib.sh runs it), on a free port. */
export async function startPrivateRedis(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llmq-redis-"));
  const port = await freePort();
  const logFile = path.join(dir, "redis.log");
  /** The last server started (kept once it exited: state() describes it). */
  let child: ChildProcess | null = null;
  const start = async () => {
    const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--logfile", logFile, "--appendonly", "yes", "--appendfsync", options.appendfsync ?? "everysec", "--maxmemory-policy", "noeviction", "--stream-node-max-bytes", "2048", "--save", ""];
    const started = spawn("redis-server", args, { stdio: "ignore" });
    child = started;
    // Ours answering, not merely a Redis: any other on this port would be another suite's, gone with it.
    await eventually(
      async () => {
        if (started.exitCode !== null) throw new Error(`redis-server exited (${started.exitCode}) on port ${port}`);
        const pid = await redisPidOn(port);
        if (pid !== undefined && pid !== started.pid) throw new Error(`another Redis (pid ${pid}) answers on port ${port}`);
        return pid;
      },
      { timeoutMs: 20_000, what: `redis-server on port ${port}` },
    );
  };
  const kill = async (signal: NodeJS.Signals = "SIGKILL") => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      running.once("exit", () => resolve());
      running.kill(signal);
    });
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    kill,
    start,
    destroy: async () => {
      await kill();
      fs.rmSync(dir, { recursive: true, force: true });
    },
    state: () => {
      const exited = child && (child.exitCode !== null || child.signalCode !== null) ? `exited (${child.exitCode ?? child.signalCode})` : "running";
      const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8").trim().split("\n").slice(-15).join("\n") : "(no log)";
      return `redis-server on port ${port}, pid ${child?.pid ?? "none"}, ${exited}; the end of its log:\n${log}`;
    },
  };
}

export interface PrivatePostgres {
  /** URL of the migrated database `llmq`. */
  url: string;
  /** `pg_ctl stop -m fast`: open connections are cut, new ones refused. */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  destroy(): Promise<void>;
}

/** Postgres refuses to run as root: run its tools as the postgres user then (as scripts/lib.sh does). */
function pgCommand(command: string): void {
  const asRoot = process.getuid?.() === 0;
  execFileSync(asRoot ? "su" : "bash", asRoot ? ["postgres", "-s", "/bin/bash", "-c", command] : ["-c", command], { stdio: "pipe" });
}

function pgBin(tool: string): string {
  // scripts/lib.sh exports PG_BIN; Debian keeps the server binaries off PATH.
  const debian = fs.existsSync("/usr/lib/postgresql") ? fs.readdirSync("/usr/lib/postgresql").map((v) => `/usr/lib/postgresql/${v}/bin`) : [];
  const dirs = [process.env.PG_BIN, ...debian];
  for (const dir of dirs) if (dir && fs.existsSync(path.join(dir, tool))) return path.join(dir, tool);
  return tool;
}

/** A fresh Postgres cluster on a free port with the project's migrations applied to database `llmq`. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llmq-pg-"));
  fs.chmodSync(dir, 0o755);
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
    fs.chownSync(dir, uid, uid);
  }
  const data = path.join(dir, "data");
  const port = await freePort();
  pgCommand(`'${pgBin("initdb")}' -D '${data}' -A trust -U postgres --no-sync -E UTF8 >/dev/null`);
  const options = `-p ${port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off`;
  const start = async () => pgCommand(`'${pgBin("pg_ctl")}' -D '${data}' -o "${options}" -l '${dir}/server.log' -w start >/dev/null`);
  const stop = async () => pgCommand(`'${pgBin("pg_ctl")}' -D '${data}' -m fast -w stop >/dev/null`);
  await start();
  const server = `postgresql://postgres@127.0.0.1:${port}`;
  const admin = new Client({ connectionString: `${server}/postgres` });
  await admin.connect();
  await admin.query("CREATE DATABASE llmq");
  await admin.end();
  const db = new Client({ connectionString: `${server}/llmq` });
  await db.connect();
  const migrations = path.join(REPO_ROOT, "prisma/migrations");
  for (const name of fs.readdirSync(migrations).sort()) {
    const file = path.join(migrations, name, "migration.sql");
    if (fs.existsSync(file)) await db.query(fs.readFileSync(file, "utf8"));
  }
  await db.end();
  return {
    url: `${server}/llmq`,
    stop,
    start,
    destroy: async () => {
      await stop().catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
