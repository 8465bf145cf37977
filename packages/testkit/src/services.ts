import { randomBytes } from "node:crypto";
import { Client } from "pg";

/** Set by scripts/test.sh: the throwaway servers every suite shares. */
function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests through ./scripts/test.sh, which starts Postgres and Redis`);
  return value;
}

export function testRedisUrl(): string {
  return required("TEST_REDIS_URL");
}

/** A key prefix no other suite uses, so suites share one Redis without seeing each other's queues. */
export function uniquePrefix(): string {
  return `t${randomBytes(5).toString("hex")}`;
}

/**
 * A fresh database cloned from the migrated template; `drop` removes it, unless TEST_KEEP_DATABASES is set
 * (scripts/index-usage.sh keeps them to read each one's index statistics after the run).
 */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const server = required("TEST_PG_SERVER_URL");
  const keep = Boolean(process.env.TEST_KEEP_DATABASES);
  const name = `test_${randomBytes(6).toString("hex")}`;
  const admin = new Client({ connectionString: `${server}/postgres` });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}" TEMPLATE llmq_template`);
  } finally {
    await admin.end();
  }
  return {
    url: `${server}/${name}`,
    drop: async () => {
      if (keep) return;
      const client = new Client({ connectionString: `${server}/postgres` });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/**
 * Resolves with `redis` once it is ready. A command connection fails fast (`enableOfflineQueue: false`,
 * packages/queue's createRedis): a command sent before its handshake is over is refused ("Stream isn't
 * writeable ..."), not queued, so a test that opens one (`createRedis`, `duplicate()`) waits for this
 * before its first command. Typed by shape, so the testkit needs no ioredis of its own.
 */
export async function redisReady<T extends { status: string; once(event: "ready", listener: () => void): unknown }>(redis: T): Promise<T> {
  if (redis.status !== "ready") await new Promise<void>((resolve) => redis.once("ready", resolve));
  return redis;
}
