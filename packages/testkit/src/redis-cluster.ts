/**
 * A Redis Cluster of a suite's own (three masters, three replicas), started by the same shell function as
 * the shared one scripts/test.sh runs (`start_redis_cluster` in scripts/lib.sh), for tests that kill a
 * master: the shared cluster stays whole for every other suite. Read with redis-cli, so the testkit needs
 * no Redis client of its own.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { eventually } from "./poll";

const run = promisify(execFile);
const REPO_ROOT = path.resolve(__dirname, "../../..");

/** One node as `CLUSTER NODES` describes it. */
export interface ClusterNodeInfo {
  id: string;
  port: number;
  role: "master" | "replica";
  /** The master's id, for a replica. */
  masterId: string | null;
  /** Slot ranges served (masters), inclusive. */
  slots: [number, number][];
  failed: boolean;
}

export interface PrivateRedisCluster {
  /** `host:port,...` for REDIS_CLUSTER_NODES. */
  nodes: string;
  ports: number[];
  /** The cluster as the first live node sees it. */
  describe(): Promise<ClusterNodeInfo[]>;
  /** The hash slot of `key` (CLUSTER KEYSLOT). */
  slotOf(key: string): Promise<number>;
  /** The live master serving `slot`. */
  masterOf(slot: number): Promise<ClusterNodeInfo>;
  /** Kills one node's redis-server (default SIGKILL) and waits until it is gone. */
  kill(port: number, signal?: NodeJS.Signals): Promise<void>;
  /** Waits until a live master other than `port` serves `slot` and the cluster says ok; answers that master. */
  failedOver(slot: number, port: number, timeoutMs?: number): Promise<ClusterNodeInfo>;
  /** Stops every node and removes the data. */
  destroy(): Promise<void>;
}

/** Reads `CLUSTER NODES` output. */
export function parseClusterNodes(text: string): ClusterNodeInfo[] {
  return text
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [id = "", address = "", flags = "", master = "-", , , , , ...slots] = line.trim().split(" ");
      return {
        id,
        port: Number(/:(\d+)@/.exec(address)?.[1] ?? 0),
        role: flags.includes("master") ? ("master" as const) : ("replica" as const),
        masterId: master === "-" ? null : master,
        failed: /fail(?!\?)/.test(flags) || flags.includes("fail?"),
        slots: slots.filter((s) => /^\d+(-\d+)?$/.test(s)).map((s) => {
          const [from, to = from] = s.split("-").map(Number) as [number, number?];
          return [from, to ?? from] as [number, number];
        }),
      };
    });
}

async function cli(port: number, ...args: string[]): Promise<string> {
  return (await run("redis-cli", ["-p", String(port), ...args], { timeout: 5_000 })).stdout;
}

/** Starts a private cluster (about 3 s); `nodeTimeoutMs` is its cluster-node-timeout (default 1500). */
export async function startPrivateRedisCluster(options: { nodeTimeoutMs?: number } = {}): Promise<PrivateRedisCluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llmq-redis-cluster-"));
  await run("bash", ["-c", 'source scripts/lib.sh && start_redis_cluster "$1"', "start_redis_cluster", dir], {
    cwd: REPO_ROOT,
    env: { ...process.env, REDIS_CLUSTER_NODE_TIMEOUT_MS: String(options.nodeTimeoutMs ?? 1_500) },
    timeout: 60_000,
  });
  const nodes = fs.readFileSync(path.join(dir, "seeds"), "utf8").trim();
  const ports = nodes.split(",").map((seed) => Number(seed.split(":")[1]));
  const dead = new Set<number>();
  const live = () => ports.find((port) => !dead.has(port))!;
  const describe = async () => parseClusterNodes(await cli(live(), "cluster", "nodes"));
  const masterOf = async (slot: number) => {
    const master = (await describe()).find((node) => node.role === "master" && !node.failed && !dead.has(node.port) && node.slots.some(([from, to]) => slot >= from && slot <= to));
    if (!master) throw new Error(`no live master serves slot ${slot}`);
    return master;
  };
  const pidOf = (port: number) => Number(fs.readFileSync(path.join(dir, String(port), "redis.pid"), "utf8").trim());
  const kill = async (port: number, signal: NodeJS.Signals = "SIGKILL") => {
    const pid = pidOf(port);
    dead.add(port);
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    await eventually(
      async () => {
        try {
          process.kill(pid, 0);
          return undefined;
        } catch {
          return true;
        }
      },
      { timeoutMs: 10_000, what: `redis-server ${port} gone` },
    );
  };
  return {
    nodes,
    ports,
    describe,
    slotOf: async (key) => Number((await cli(live(), "cluster", "keyslot", key)).trim()),
    masterOf,
    kill,
    failedOver: (slot, port, timeoutMs = 30_000) =>
      eventually(
        async () => {
          const master = await masterOf(slot).catch(() => undefined);
          if (!master || master.port === port) return undefined;
          return (await cli(master.port, "cluster", "info")).includes("cluster_state:ok") ? master : undefined;
        },
        { timeoutMs, intervalMs: 100, what: `slot ${slot} served by a new master` },
      ),
    destroy: async () => {
      // A node killed already left its pid file behind: its pid may belong to another process by now.
      for (const port of ports.filter((each) => !dead.has(each))) {
        try {
          process.kill(pidOf(port), "SIGKILL");
        } catch {
          // Already gone.
        }
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Set by scripts/test.sh: the seed list of the Redis Cluster every cluster suite shares. */
export function testRedisClusterNodes(): string {
  const value = process.env.TEST_REDIS_CLUSTER_NODES;
  if (!value) throw new Error("TEST_REDIS_CLUSTER_NODES is not set: run the tests through ./scripts/test.sh, which starts a Redis Cluster");
  return value;
}
