import fs from "node:fs";
import path from "node:path";
import { sourceLinesMatching } from "@llmq/testkit";

// The engine is the only writer of task and batch state: outside packages/engine (and packages/db, which
// holds the statements), no source file may call a repository method that changes a task's or a batch's
// status. Calls through the engine (`engine.tasks.fail(...)`, `transitions.cancel(...)`) are fine.

const ROOT = path.resolve(__dirname, "../../..");
const STATE_CHANGING =
  /(?<!engine\.)\b(tasks|taskRepository)\.(create|createMany|createBatchTasks|startAttempt|startAttempts|checkpoint|checkpointMany|complete|completeMany|fail|releaseForRetry|cancel|recordCancelledOutput|expireIfUnstarted|expireUnstarted|expireOverdue|closePendingOfBatch|withdraw|withdrawMany)\(|(?<!engine\.)\b(batches|batchRepository)\.(create|createWithinLimits|transition|delete|deleteIfStatus)\(/;

describe("the engine owns task and batch state", () => {
  it("no file outside packages/engine and packages/db calls a state-changing repository method", () => {
    const dirs = [
      // The service's own processes; the CLI and the dashboard are clients (their `batches.create` is an HTTP call).
      "apps/api/src",
      "apps/worker/src",
      ...fs
        .readdirSync(path.join(ROOT, "packages"))
        .filter((name) => !["engine", "db"].includes(name))
        .map((name) => `packages/${name}/src`),
    ];
    const offenders = sourceLinesMatching(dirs, STATE_CHANGING);
    expect(offenders).toEqual([]);
  });

  it("would notice one (the pattern matches a direct call and lets an engine call through)", () => {
    expect(STATE_CHANGING.test("await deps.tasks.fail(task.id, null, error);")).toBe(true);
    expect(STATE_CHANGING.test("await this.deps.batches.transition(id, ['validating'], 'in_progress');")).toBe(true);
    expect(STATE_CHANGING.test("await deps.engine.tasks.fail(ref, null, error);")).toBe(false);
    expect(STATE_CHANGING.test("await this.deps.engine.batches.create(batch, 0);")).toBe(false);
  });
});
