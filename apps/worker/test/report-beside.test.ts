import { createLogger } from "@llmq/config";
import { createProvider } from "@llmq/providers";
import type { RunQueueUpstreams } from "@llmq/queue";
import { type OpenAIFixture, eventually, startOpenAIFixture } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import { createTextCompletionProcessor } from "../src/text-completion-processor";
import { UpstreamSlots } from "../src/upstream-slots";

// Issue 13, the waited completion's path: a request that the upstream answered is reported to the run queue
// (REPORT: the upstream's latency and health) beside the attempt, not before its completion. The report is
// sent at once, in the order it always was (before the settle, on the same connection), but the completion
// no longer waits a Redis round trip for its reply. Real Postgres, Redis, run queue, provider and HTTP
// fixture; only the report's reply is held back, to make the order visible.

const MODEL = "report-model";

let fixture: OpenAIFixture;
let stack: TestStack;
beforeAll(async () => {
  fixture = await startOpenAIFixture();
  stack = await startTestStack({
    models: { providers: { upstream: { type: "openai", base_url: fixture.url, api_key: "k", timeout_ms: 10_000 } }, models: [{ id: MODEL, provider: "upstream", upstream_model: "fixture-model", concurrency: 2 }] },
    worker: false,
  });
});
afterAll(async () => {
  await stack?.close();
  await fixture?.close();
});

describe("an upstream request's report", () => {
  it("goes to the run queue before the settle, and the completion does not wait for its reply", async () => {
    const { deps } = stack.api;
    const model = deps.models.byId.get(MODEL)!;
    const queue = deps.queues.runQueue(model.queueName);
    // The real REPORT is sent when the attempt asks; its reply reaches the attempt only once `release` is called.
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const reports: string[] = [];
    const upstreams: Pick<RunQueueUpstreams, "report" | "reserve"> = {
      reserve: (...args) => queue.upstreams.reserve(...args),
      report: async (upstream, report) => {
        reports.push(`${upstream.name}:${report.kind}`);
        const reply = queue.upstreams.report(upstream, report);
        await held;
        return reply;
      },
    };
    const provider = createProvider(model.upstreams[0]!.provider, { connections: 2 });
    const run = createTextCompletionProcessor({
      engine: deps.engine,
      models: deps.models,
      providers: new Map([[MODEL, new Map([[model.upstreams[0]!.name, provider]])]]),
      checkpointIntervalMs: 60_000,
      confirmAfterMs: 60_000,
      logger: createLogger({ name: "test", level: "silent" }),
      upstreamSlots: new Map([[MODEL, new UpstreamSlots(2)]]),
      upstreams: () => upstreams,
    });
    try {
      const taskId = await stack.submitAsync({ messages: [{ role: "user", content: "reported beside" }], configs: { model: MODEL, max_tokens: 16 } });
      const dispatched = await queue.dispatch("w-report", 1, 30_000, undefined, model.upstreams);
      const leased = dispatched.tasks[0]!;
      expect(leased.id).toBe(taskId);
      const outcome = run({ taskId, requestCopy: leased.requestCopy, tries: leased.tries, upstream: leased.upstream, token: dispatched.token }, new AbortController().signal);
      // Completed (row and final event) while the report's reply is still held. Before: the attempt waited
      // for the reply before it asked to complete, so the task stayed RUNNING until the release.
      const completed = await eventually(async () => {
        const task = await deps.tasks.findById(taskId);
        return task?.status === "COMPLETED" ? task : undefined;
      }, { what: "the task completed while its report's reply was held", timeoutMs: 5_000 });
      expect(completed.response).toBe("Echo: reported beside");
      // The final event follows the row's commit (appended just after it), still with the reply held.
      await eventually(async () => ((await deps.log.readAfter(taskId, "0")).some((entry) => entry.event.type === "final") ? true : undefined), {
        what: "the final event while its report's reply was held",
        timeoutMs: 5_000,
      });
      expect(reports).toEqual([`${model.upstreams[0]!.name}:ok`]);
      release();
      expect(await outcome).toMatchObject({ kind: "done", failed: false });
      // The report reached the run queue: the upstream's latency holds the successful request.
      const [snapshot] = await queue.upstreams.snapshot(model.upstreams);
      expect(snapshot?.latencyMs).not.toBeNull();
      expect(await queue.settle(taskId, dispatched.token, 1)).toBe(true);
    } finally {
      release();
      await provider.close?.();
    }
  });
});
