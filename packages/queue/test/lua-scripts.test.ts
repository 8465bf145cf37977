import { eventually, testRedisClusterNodes, testRedisUrl, uniquePrefix } from "@llmq/testkit";
import {
  type RedisConnection,
  RunQueue,
  StreamLeases,
  type TaskEvent,
  TaskEventLog,
  closeRedis,
  createRedis,
  isCluster,
  keySpace,
  parseClusterNodes,
} from "../src";

// Our Lua scripts (lua-script.ts) go as EVALSHA and again as EVAL when Redis no longer holds them (a
// restarted Redis, a promoted replica, SCRIPT FLUSH): every kind of call, alone, in sendEach's pipeline
// and, on a Cluster, one per master. And nothing is defined on the connection, so the pipeline ioredis
// builds for every auto-pipelined round trip carries no copy of them.

/** Forgets every cached script: on one Redis, or on each master of a Cluster. */
async function flushScripts(redis: RedisConnection): Promise<void> {
  if (isCluster(redis)) await Promise.all(redis.nodes("master").map((node) => node.script("FLUSH")));
  else await redis.script("FLUSH");
}

const running: TaskEvent = { type: "status", status: "RUNNING", attempt: 1 };
const token = (n: number): TaskEvent => ({ type: "token", attempt: 1, delta: `t${n}`, tokens: n, percent: n });
const subject = (userId: string) => ({ userId, keyId: "k1", keyLimit: 5, userLimit: 10 });

const targets: [string, () => RedisConnection][] = [
  ["one Redis", () => createRedis(testRedisUrl(), { name: "lua-scripts-test" })],
  ["a Redis Cluster", () => createRedis(parseClusterNodes(testRedisClusterNodes()), { name: "lua-scripts-test" })],
];

describe.each(targets)("our scripts on %s", (_name, connect) => {
  let redis: RedisConnection;
  beforeAll(async () => {
    redis = connect();
    await eventually(async () => ((await redis.ping().catch(() => null)) === "PONG" ? true : undefined), { what: "Redis ready" });
  });
  afterAll(async () => {
    await closeRedis(redis);
  });

  it("run after SCRIPT FLUSH: the run queue's, an append alone and many in one sendEach, a stream lease and its renewal", async () => {
    const keys = keySpace(uniquePrefix());
    const queue = new RunQueue(redis, { prefix: keys.root, queueName: "llm_scripts_test" });
    const log = new TaskEventLog(redis, keys);
    const errors: unknown[] = [];
    const leases = new StreamLeases(redis, keys, { leaseMs: 600, onError: (error) => errors.push(error) });
    try {
      await flushScripts(redis);
      const entry = (id: string) => ({ id, tenant: "t1", tier: "default" as const, estimatedTokens: 10, queueDeadline: null, requestCopy: null });
      expect(await queue.enqueueMany([entry("a"), entry("b")])).toBe(2);
      await flushScripts(redis);
      const dispatched = await queue.dispatch("w1", 1, 60_000);
      expect(dispatched.tasks.map((task) => task.id)).toEqual(["a"]);
      expect(await queue.place("b")).toEqual({ ahead: 0, leased: 1 });
      await flushScripts(redis);
      expect(await queue.settle("a", dispatched.token, 12)).toBe(true);
      expect(await queue.withdraw("b")).toBe("waiting");

      // One task's events: one script call.
      await flushScripts(redis);
      const [first] = await log.append("task-1", [running]);
      expect(first).toMatch(/^\d+-\d+$/);
      // Many tasks' events in one sendEach (one pipeline on one Redis, one write per master on a
      // Cluster): every entry answered NOSCRIPT, each is sent again as EVAL, none twice.
      await flushScripts(redis);
      const ids = await log.appendMany(["task-1", "task-2", "task-3", "task-4"].map((taskId) => ({ taskId, events: [token(1), token(2)] })));
      expect(ids.map((pair) => pair.length)).toEqual([2, 2, 2, 2]);
      expect(ids.flat().every((id) => typeof id === "string")).toBe(true);
      expect((await log.readAfter("task-1", "0")).map((entry) => entry.event.type)).toEqual(["status", "token", "token"]);
      expect(await log.readAfter("task-3", "0")).toHaveLength(2);

      // A stream lease: taken after a flush, and kept past its length by renewals (sendEach) after another.
      await flushScripts(redis);
      const release = await leases.acquire(subject("u1"));
      expect(typeof release).toBe("function");
      await flushScripts(redis);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      // Expired leases are dropped by the next acquire: a renewed one is still counted.
      expect(await leases.acquire({ ...subject("u1"), keyLimit: 1 })).toEqual({ whose: "key", open: 1, limit: 1 });
      expect(errors).toEqual([]);
    } finally {
      await leases.close();
    }
  });

  it("define nothing on the connection: a pipeline of it carries what an empty connection's does", async () => {
    const keys = keySpace(uniquePrefix());
    const queue = new RunQueue(redis, { prefix: keys.root, queueName: "llm_scripts_test" });
    const log = new TaskEventLog(redis, keys);
    const leases = new StreamLeases(redis, keys, { leaseMs: 60_000, onError: () => undefined });
    const empty = connect();
    try {
      await queue.upstreams.snapshot([]);
      await queue.borrows.dueSoon();
      await log.append("task-1", [running]);
      await leases.acquire(subject("u1"));
      const carried = Object.keys(redis.pipeline()).sort();
      expect(carried.filter((name) => name.startsWith("llmq"))).toEqual([]);
      expect(carried).toEqual(Object.keys(empty.pipeline()).sort());
    } finally {
      await leases.close();
      await closeRedis(empty);
    }
  });
});
