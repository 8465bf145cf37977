import { freePort } from "@llmq/testkit";
import { TaskRepository, createDatabase, isDatabaseUnavailable } from "../src";


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

  it("never takes another component's refused connection for it", () => {
    const upstream = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" });
    expect(isDatabaseUnavailable(upstream)).toBe(false);
    expect(isDatabaseUnavailable(Object.assign(new Error("upstream failed"), { cause: upstream }))).toBe(false);
  });
});
