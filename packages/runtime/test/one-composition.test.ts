import fs from "node:fs";
import path from "node:path";

// The API and the worker run on one composition (`createRuntime`): outside packages/runtime no source file
// constructs the engine, registers its listeners or builds the shared producers and notifiers itself, so
// the two processes' wiring cannot drift apart again (it was written out twice, nine constructions each).

const ROOT = path.resolve(__dirname, "../../..");
const WIRING = /\bnew (TaskEngine|TaskQueues|BatchJobs|WebhookJobs|WebhookNotifier|TaskUpdates|TokenUsage)\(|\bregisterListeners\(/;

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return ["node_modules", "generated", "dist", "test"].includes(entry.name) ? [] : sourceFiles(full);
    return /\.tsx?$/.test(entry.name) ? [full] : [];
  });
}

describe("one runtime composition", () => {
  it("only packages/runtime wires the engine, its listeners and the shared producers", () => {
    const roots = ["apps/api/src", "apps/worker/src"].map((dir) => path.join(ROOT, dir));
    const offenders = roots.flatMap(sourceFiles).flatMap((file) =>
      fs
        .readFileSync(file, "utf8")
        .split("\n")
        .flatMap((line, index) => (WIRING.test(line) ? [`${path.relative(ROOT, file)}:${index + 1}: ${line.trim()}`] : [])),
    );
    expect(offenders).toEqual([]);
  });

  it("would notice a second composition (the pattern matches a construction, not a type)", () => {
    expect(WIRING.test("  const engine = new TaskEngine({ tasks, batches, queues, log, logger });")).toBe(true);
    expect(WIRING.test("  registerListeners(engine, { updates, webhooks });")).toBe(true);
    expect(WIRING.test("import type { TaskEngine } from \"@llmq/engine\";")).toBe(false);
  });
});
