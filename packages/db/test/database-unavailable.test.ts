import { freePort } from "@llmq/testkit";
import { FileRepository, TaskRepository, createDatabase, isDatabaseUnavailable } from "../src";


describe("isDatabaseUnavailable", () => {
  it("recognises Postgres out of reach on both paths: Prisma's and the plain-SQL hot path", async () => {
    const db = createDatabase({ databaseUrl: `postgresql://postgres@127.0.0.1:${await freePort()}/none` });
    try {
      const tasks = new TaskRepository(db);
      const plain = await tasks.startAttempt("0".repeat(32)).catch((error: unknown) => error);
      expect(isDatabaseUnavailable(plain)).toBe(true);
      const prisma = await tasks.batchHasOpenTasks("batch_x").catch((error: unknown) => error);
      expect(isDatabaseUnavailable(prisma)).toBe(true);
    } finally {
      await db.$disconnect();
    }
  });

  it("recognises it on a checked-out connection too (the file quotas' transaction), where the API once needed a list of its own", async () => {
    const db = createDatabase({ databaseUrl: `postgresql://postgres@127.0.0.1:${await freePort()}/none` });
    try {
      const files = new FileRepository(db);
      async function* content() {
        yield new Uint8Array([1]);
      }
      const refused = await files.stage({ ownerId: "u", filename: "f.jsonl", quota: { maxFiles: 1, maxBytes: 0 } }, content()).catch((error: unknown) => error);
      expect((refused as { code?: string }).code).toBe("ECONNREFUSED");
      expect(isDatabaseUnavailable(refused)).toBe(true);
    } finally {
      await db.$disconnect();
    }
  });

  it("never takes another component's refused connection for it", () => {
    const upstream = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" });
    expect(isDatabaseUnavailable(upstream)).toBe(false);
    expect(isDatabaseUnavailable(Object.assign(new Error("upstream failed"), { cause: upstream }))).toBe(false);
  });
});
