import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";

// The boundary linter must not be a silent no-op: each rule is shown a file that breaks it (written into
// the real tree for the moment of the check, then removed) and must name it, through the same command
// ./scripts/test.sh runs (`npm run lint:boundaries`, here on the probe files alone).

const ROOT = path.resolve(__dirname, "../../..");
const MAIN = path.join(ROOT, "tests/boundaries/src/main.ts");

/** Writes `files` (path relative to the root -> source), runs the linter on them (and what they import, to `maxDepth`; dependency-cruiser sees cycles only without one), removes them. */
async function lint(files: Record<string, string>, maxDepth: number | null = 1): Promise<{ code: number; output: string }> {
  for (const [file, source] of Object.entries(files)) fs.writeFileSync(path.join(ROOT, file), source);
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", MAIN, ...Object.keys(files), ...(maxDepth === null ? [] : ["--max-depth", String(maxDepth)])], { cwd: ROOT });
    return { code: 0, output: stdout };
  } catch (error) {
    const { code, stdout, stderr } = error as { code: number; stdout: string; stderr: string };
    return { code, output: stdout + stderr };
  } finally {
    for (const file of Object.keys(files)) fs.rmSync(path.join(ROOT, file), { force: true });
  }
}

const probe = (dir: string) => `${dir}/zz-boundary-probe-${randomBytes(4).toString("hex")}.ts`;

describe("the boundary linter", () => {
  it("names every forbidden arrow it is shown, and fails", async () => {
    const cases = {
      [probe("apps/api/src")]: ["routes-never-call-providers", 'import { createProvider } from "@llmq/providers";\nexport const p = createProvider;\n'],
      [probe("apps/worker/src")]: ["workers-never-import-the-api", 'import type { AppDeps } from "@llmq/api/src/deps";\nexport type D = AppDeps;\n'],
      [probe("packages/db/src")]: ["no-package-imports-an-app", 'export { startWorker } from "@llmq/worker";\n'],
      [probe("packages/core/src")]: ["core-knows-no-storage-or-queue", 'import { Queue } from "bullmq";\nexport const q = Queue;\n'],
      [probe("packages/config/src")]: ["arrows-of-packages-config", 'export { TaskRepository } from "@llmq/db";\n'],
      [probe("packages/providers/src")]: ["providers-know-no-storage-or-queue", 'import { Pool } from "pg";\nexport const p = Pool;\n'],
      [probe("apps/dashboard/src")]: ["dashboard-reads-through-http-only", 'export { createDatabase } from "@llmq/db";\n'],
      [probe("packages/client/src")]: ["client-is-browser-safe", 'import { readFileSync } from "node:fs";\nexport const read = readFileSync;\n'],
      [probe("apps/cli/src")]: ["no-test-code-in-production", 'export { startTestStack } from "@llmq/stack";\n'],
    } as const;
    const { code, output } = await lint(Object.fromEntries(Object.entries(cases).map(([file, [, source]]) => [file, source])));
    expect(code).toBe(1);
    for (const [file, [rule]] of Object.entries(cases)) expect(output).toContain(`boundary violation ${rule}: ${file}`);
  });

  it("keeps core browser-safe: no Node built-in, no dependency but zod", async () => {
    const file = probe("packages/core/src");
    const { code, output } = await lint({ [file]: 'import { readFileSync } from "node:fs";\nexport const read = readFileSync;\n' });
    expect(code).toBe(1);
    expect(output).toContain(`boundary violation core-is-browser-safe: ${file} -> fs`);
  });

  it("finds an import cycle", async () => {
    const a = probe("packages/queue/src");
    const b = probe("packages/queue/src");
    const { code, output } = await lint({ [a]: `import { b } from "./${path.basename(b, ".ts")}";\nexport const a = () => b;\n`, [b]: `import { a } from "./${path.basename(a, ".ts")}";\nexport const b = () => a;\n` }, null);
    expect(code).toBe(1);
    expect(output).toContain("boundary violation no-circular:");
  });

  it("finds a workspace import its package.json does not declare, even where the arrow is allowed", async () => {
    const file = probe("packages/testkit/src");
    const { code, output } = await lint({ [file]: 'export { newTaskId } from "@llmq/core";\n' });
    expect(code).toBe(1);
    expect(output).toContain(`boundary violation workspace-import-declared: ${file} -> @llmq/core (packages/testkit/package.json does not declare @llmq/core)`);
    expect(output).not.toContain("arrows-of-packages-testkit");
  });

  it("passes an allowed, declared import", async () => {
    const { code, output } = await lint({ [probe("packages/engine/src")]: 'export { TaskRepository } from "@llmq/db";\n' });
    expect(output).toContain("boundaries hold");
    expect(code).toBe(0);
  });
});
