import { sourceLinesMatching } from "@llmq/testkit";

// The API and the worker run on one composition (`createRuntime`): outside packages/runtime no source file
// constructs the engine, registers its listeners or builds the shared producers and notifiers itself, so
// the two processes' wiring cannot drift apart again (it was written out twice, nine constructions each).

const WIRING = /\bnew (TaskEngine|TaskQueues|BatchJobs|WebhookJobs|WebhookNotifier|TaskUpdates|TokenUsage)\(|\bregisterListeners\(/;

describe("one runtime composition", () => {
  it("only packages/runtime wires the engine, its listeners and the shared producers", () => {
    const offenders = sourceLinesMatching(["apps/api/src", "apps/worker/src"], WIRING);
    expect(offenders).toEqual([]);
  });

  it("would notice a second composition (the pattern matches a construction, not a type)", () => {
    expect(WIRING.test("  const engine = new TaskEngine({ tasks, batches, queues, log, logger });")).toBe(true);
    expect(WIRING.test("  registerListeners(engine, { updates, webhooks });")).toBe(true);
    expect(WIRING.test("import type { TaskEngine } from \"@llmq/engine\";")).toBe(false);
  });
});
