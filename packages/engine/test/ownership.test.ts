import fs from "node:fs";
import path from "node:path";

// The engine is the only writer of task and batch state: outside packages/engine (and packages/db, which
// holds the statements), no source file may call a repository method that changes a task's or a batch's
// status. Calls through the engine (`engine.tasks.fail(...)`, `transitions.cancel(...)`) are fine.

const ROOT = path.resolve(__dirname, "../../..");
const STATE_CHANGING =
  /(?<!engine\.)\b(tasks|taskRepository)\.(create|createMany|createBatchTasks|startAttempt|startAttempts|checkpoint|checkpointMany|complete|completeMany|fail|releaseForRetry|cancel|recordCancelledOutput|expireIfUnstarted|expireUnstarted|expireOverdue|closePendingOfBatch|withdraw|withdrawMany)\(|(?<!engine\.)\b(batches|batchRepository)\.(create|createWithinLimits|transition|delete|deleteIfStatus)\(/;

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return ["node_modules", "generated", "dist", "test"].includes(entry.name) ? [] : sourceFiles(full);
    return /\.tsx?$/.test(entry.name) ? [full] : [];
  });
}

describe("the engine owns task and batch state", () => {
  it("no file outside packages/engine and packages/db calls a state-changing repository method", () => {
    const roots = [
      // The service's own processes; the CLI and the dashboard are clients (their `batches.create` is an HTTP call).
      ...["api", "worker"].map((app) => path.join(ROOT, "apps", app, "src")),
      ...fs
        .readdirSync(path.join(ROOT, "packages"))
        .filter((name) => !["engine", "db"].includes(name))
        .map((name) => path.join(ROOT, "packages", name, "src")),
    ].filter((dir) => fs.existsSync(dir));
    const offenders = roots.flatMap(sourceFiles).flatMap((file) =>
      fs
        .readFileSync(file, "utf8")
        .split("\n")
        .flatMap((line, index) => (STATE_CHANGING.test(line) ? [`${path.relative(ROOT, file)}:${index + 1}: ${line.trim()}`] : [])),
    );
    expect(offenders).toEqual([]);
  });

  it("would notice one (the pattern matches a direct call and lets an engine call through)", () => {
    expect(STATE_CHANGING.test("await deps.tasks.fail(task.id, null, error);")).toBe(true);
    expect(STATE_CHANGING.test("await this.deps.batches.transition(id, ['validating'], 'in_progress');")).toBe(true);
    expect(STATE_CHANGING.test("await deps.engine.tasks.fail(ref, null, error);")).toBe(false);
    expect(STATE_CHANGING.test("await this.deps.engine.batches.create(batch, 0);")).toBe(false);
  });
});
