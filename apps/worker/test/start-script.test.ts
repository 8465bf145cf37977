// scripts/start.sh started again on a machine where everything is in place (dependencies installed,
// Prisma's client generated, the dashboard built from these sources by scripts/test.sh, every migration
// applied to the database): it says what it checks, skips what is done, prints a banner without gaps,
// and says "stopping…" / "stopped" when stopped. Asserts on what it prints, not on how long it took.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createTestDatabase, eventually, freePort, testRedisUrl, uniquePrefix } from "@llmq/testkit";

const REPO_ROOT = path.resolve(__dirname, "../../..");

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let started: ChildProcess | null = null;
let output = "";
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  if (started && started.exitCode === null && started.signalCode === null) {
    started.kill("SIGTERM");
    await new Promise((resolve) => started!.once("exit", resolve));
  }
  await database?.drop();
});

/** start.sh's own lines ("[llmq] ..."), colours removed; the services' JSON lines left out. */
const ownLines = () =>
  output
    .replace(/\u001b\[[0-9;]*[A-Za-z]/g, "")
    .split("\n")
    .filter((line) => !line.startsWith("{"));

describe("scripts/start.sh, started again", () => {
  it("skips the migrations and the dashboard build that are done, shows a gapless banner, says stopping and stopped", async () => {
    const port = await freePort();
    started = spawn("bash", ["scripts/start.sh"], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? os.tmpdir(),
        DATABASE_URL: database.url,
        REDIS_URL: testRedisUrl(),
        REDIS_PREFIX: uniquePrefix(),
        ADMIN_API_KEY: `admin_${uniquePrefix()}_0123456789abcdef`,
        AUTH_JWT_SECRET: "x".repeat(48),
        PORT: String(port),
        API_PROCESSES: "1",
        LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    started.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    started.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    await eventually(async () => (output.includes("Press Ctrl-C") ? true : undefined), { timeoutMs: 90_000, intervalMs: 200, what: `start.sh to be up:\n${output}` });

    const lines = ownLines();
    // Each step is announced, then reported with its time and what it found.
    expect(lines).toContainEqual(expect.stringMatching(/^\[llmq\] checking dependencies…$/));
    expect(lines).toContainEqual(expect.stringMatching(/^\[llmq\] building the dashboard: \d+\.\d s, up to date, not rebuilt$/));
    expect(lines).toContainEqual(expect.stringMatching(/^\[llmq\] checking migrations: \d+\.\d s, all applied already$/));
    expect(lines).toContainEqual(expect.stringMatching(/^\[llmq\] starting the API and worker: \d+\.\d s$/));
    expect(output).not.toContain("prisma migrate deploy");
    expect(output).not.toContain("vite");
    // Our URLs were given: no local Postgres or Redis is started.
    expect(output).not.toMatch(/starting (Postgres|Redis)/);

    // The banner: no blank line where "Admin user" goes when ADMIN_EMAIL is not set.
    const banner = lines.slice(lines.findIndex((line) => line.includes("llmq is running")));
    expect(banner[0]).toMatch(/llmq is running at http:\/\/127\.0\.0\.1:\d+ \(ready in \d+\.\d s\)$/);
    const adminKey = banner.findIndex((line) => line.trim().startsWith("Admin key:"));
    expect(banner[adminKey + 1]).toMatch(/^\s+Models:/);

    // Ctrl-C (here SIGTERM): it says what it does, where a terminal shows it.
    started.kill("SIGTERM");
    await new Promise((resolve) => started!.once("exit", resolve));
    const end = ownLines().filter(Boolean).slice(-6);
    expect(end).toContain("[llmq] stopping…");
    expect(end[end.length - 1]).toBe("[llmq] stopped");
  });
});

/** Runs bash with scripts/lib.sh sourced, from the repository's root; its stdout, trimmed. */
function withLib(script: string): string {
  const run = spawnSync("bash", ["-c", `source scripts/lib.sh && ${script}`], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? os.tmpdir() }, encoding: "utf8" });
  if (run.status !== 0) throw new Error(`bash exited with ${run.status}: ${run.stderr}`);
  return run.stdout.trim();
}
/** Runs one SQL statement on `url` (through the repository's pg, as lib.sh does). */
const sql = (url: string, statement: string) =>
  withLib(`node -e 'const { Client } = require("pg"); const c = new Client({ connectionString: process.argv[1] }); c.connect().then(() => c.query(process.argv[2])).then(() => c.end())' "${url}" "${statement}"`);

describe("migrate_if_needed (start.sh's migration step)", () => {
  it("skips Prisma when every migration is applied with its checksum, applies what is missing, and counts a changed one as pending", () => {
    const migrations = fs.readdirSync(path.join(REPO_ROOT, "prisma/migrations")).filter((name) => fs.existsSync(path.join(REPO_ROOT, "prisma/migrations", name, "migration.sql")));
    expect(withLib(`node scripts/pending-migrations.cjs "${database.url}"`)).toBe("0");
    expect(withLib(`migrate_if_needed "${database.url}"; echo "$STEP_RESULT"`)).toBe("all applied already");

    // An empty database: Prisma applies every migration (through the preload that lets it exit when done).
    sql(database.url, "DROP SCHEMA public CASCADE; CREATE SCHEMA public");
    expect(withLib(`node scripts/pending-migrations.cjs "${database.url}"`)).toBe(String(migrations.length));
    expect(withLib(`migrate_if_needed "${database.url}"; echo "$STEP_RESULT"`)).toBe(`${migrations.length} applied`);
    expect(withLib(`migrate_if_needed "${database.url}"; echo "$STEP_RESULT"`)).toBe("all applied already");

    // A migration whose file no longer matches what was applied is not "applied": Prisma gets to say so.
    sql(database.url, `UPDATE _prisma_migrations SET checksum = 'changed' WHERE migration_name = '${migrations[migrations.length - 1]}'`);
    expect(withLib(`node scripts/pending-migrations.cjs "${database.url}"`)).toBe("1");
  });
});
