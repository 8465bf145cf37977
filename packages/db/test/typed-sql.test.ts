import { execFile } from "node:child_process";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import type { DB } from "../src/generated/kysely/database";
import { kysely, lit } from "../src/kysely";
import { type EveryColumnListed, TASK_COLUMNS, type TaskRow } from "../src/task-sql";

/**
 * The hot path's SQL is typed by the schema (src/kysely.ts): the table types come from prisma/schema.prisma
 * through `prisma generate` (the prisma-kysely generator), and a query that names a column wrongly, sets
 * a wrong type or forgets a column of the schema fails tsc. The type-level cases below are checked by the
 * type-check of ./scripts/test.sh (an unneeded @ts-expect-error is itself an error); the tests run
 * the generator on a changed schema.
 */

const root = path.resolve(__dirname, "../../..");
const run = promisify(execFile);

// Type-level: each line below must fail to type-check.
function typeErrors() {
  // @ts-expect-error a column that `tasks` does not have
  kysely.selectFrom("tasks").select("no_such_column");
  // @ts-expect-error Prisma's field name is not the column's (owner_id)
  kysely.selectFrom("tasks").select("ownerId");
  // @ts-expect-error status is the TaskStatus enum
  kysely.updateTable("tasks").set({ status: lit("DONE") });
  // @ts-expect-error attempts is an integer
  kysely.updateTable("tasks").set({ attempts: "1" });
  // @ts-expect-error a task row has no `owner_id` field: the query names it `ownerId`
  void ((row: TaskRow) => row.owner_id);
  // @ts-expect-error a table with a column TASK_COLUMNS does not list
  const incomplete: EveryColumnListed<DB["tasks"] & { priority: number }> = true;
  return incomplete;
}
void typeErrors;

describe("typed SQL", () => {
  it("names every task column in camelCase in the statement itself", () => {
    const { sql } = kysely.selectFrom("tasks").select(TASK_COLUMNS).where("task_id", "=", "x").compile();
    expect(sql).toContain(`"owner_id" as "ownerId"`);
    expect(sql).toContain(`"task_id" as "id"`);
    expect(sql).not.toContain("*");
  });

  it("generates the table types from prisma/schema.prisma: a column added there appears in the Database type, and tsc then fails until the task statements list it", async () => {
    // Inside packages/db so the generated file resolves `kysely` as the package's own does; ignored by git.
    const dir = path.join(root, "packages/db/src/generated", `schema-test-${process.pid}`);
    await mkdir(dir, { recursive: true });
    try {
      const schema = (await readFile(path.join(root, "prisma/schema.prisma"), "utf8"))
        .replace(/output\s*=\s*"\.\.\/packages\/db\/src\/generated\/kysely"/, `output = "${dir}"`)
        .replace(/(model Task \{\n)/, "$1  priority Int @default(0) @map(\"queue_priority\")\n");
      expect(schema).toContain("queue_priority");
      await writeFile(path.join(dir, "schema.prisma"), schema);
      await run(path.join(root, "node_modules/.bin/prisma"), ["generate", "--schema", path.join(dir, "schema.prisma"), "--generator", "kysely"], {
        cwd: root,
        env: { ...process.env, DATABASE_URL: "postgresql://localhost/unused", PATH: `${path.join(root, "node_modules/.bin")}:${process.env.PATH}` },
      });
      const generated = await readFile(path.join(dir, "database.ts"), "utf8");
      const taskType = generated.slice(generated.indexOf("export type Task = {"), generated.indexOf("};", generated.indexOf("export type Task = {")));
      expect(taskType).toContain("queue_priority: Generated<number>;");
      expect(generated).toContain("tasks: Task;");

      // The statements' completeness check against the new type: tsc names the column they miss.
      await writeFile(
        path.join(dir, "check.ts"),
        `import type { Task } from "./database";\nimport type { EveryColumnListed } from "../../task-sql";\nexport const listed: EveryColumnListed<Task> = true;\n`,
      );
      const tsc = await run(path.join(root, "node_modules/.bin/tsc"), ["--noEmit", "--strict", "--skipLibCheck", "--target", "ES2022", "--module", "preserve", "--moduleResolution", "bundler", "--types", "node", path.join(dir, "check.ts")], {
        cwd: root,
      }).then(
        () => ({ failed: false, output: "" }),
        (error: { stdout?: string }) => ({ failed: true, output: error.stdout ?? "" }),
      );
      expect(tsc.failed).toBe(true);
      expect(tsc.output).toContain(`missing: "queue_priority"`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    // Two CLI runs: Prisma's generate idles about 10 s on a network look-up here (docs/ENVIRONMENT), tsc takes 5-30 s on a busy machine.
  }, 180_000);
});
