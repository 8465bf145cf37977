// Issue 16, fallbacks, crash safety: a worker killed while it runs a task on a fallback's upstream (a
// borrow on the fallback's run queue, a borrowed lease on the model's own). Its heartbeat stops, peers reap
// both leases, the task goes back in its place and completes once, and the fallback's slot is freed.
import net from "node:net";
import type { ChildProcess } from "node:child_process";
import type { TaskRecord } from "@llmq/db";
import { eventually, json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";

// Only the heartbeat (WORKER_DEAD_AFTER_MS, 3 s in tests) can hand the dead worker's leases on.
const SPAWNED = { WORKER_MODELS: "kill-model", SHUTDOWN_TIMEOUT_MS: "120000", LOCK_DURATION_MS: "120000" };
const breaker = { failures: 1, windowMs: 60_000, cooldownMs: 600_000 };

let stack: TestStack;
beforeAll(async () => {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const closedPort = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  stack = await startTestStack({
    models: {
      providers: {
        nowhere: { type: "openai", base_url: `http://127.0.0.1:${closedPort}/v1`, api_key: "k", timeout_ms: 1_500 },
        slow: { type: "simulated", first_token_ms: 5, tokens_per_second: 40 },
      },
      models: [
        { id: "kill-model", concurrency: 2, upstreams: [{ provider: "nowhere", circuit: { failures: 1, window_ms: 60_000, cooldown_ms: 600_000 } }], fallbacks: ["kill-backup"] },
        { id: "kill-backup", concurrency: 2, upstreams: [{ provider: "slow", max_concurrency: 1 }] },
      ],
    },
    // The in-process worker serves the fallback only: kill-model's tasks run in the spawned workers.
    env: { WORKER_MODELS: "kill-backup" },
  });
  // kill-model's only upstream is out from the start.
  expect((await stack.api.deps.queues.runQueue("llm_kill_model_queue").upstreams.report({ name: "nowhere", circuit: breaker }, { kind: "fail" })).state).toBe("open");
});
afterAll(async () => {
  await stack?.close();
});

function waitForTask(taskId: string, predicate: (task: TaskRecord) => boolean, what: string): Promise<TaskRecord> {
  return eventually(
    async () => {
      const task = await stack.api.deps.tasks.findById(taskId);
      return task && predicate(task) ? task : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 50, what },
  );
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: string | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
}

async function backupInFlight(): Promise<number> {
  const body = await json(await stack.request("/v1/admin/upstreams"));
  const entry = (body.data.data.models as Array<{ model: string; upstreams: Array<{ name: string; in_flight: number }> }>).find((m) => m.model === "kill-backup")!;
  return entry.upstreams[0]!.in_flight;
}

it("a worker killed while running a borrowed task: the task completes once, on the fallback, and the borrowed slot is freed", async () => {
  const first = await stack.spawnWorker(SPAWNED);
  const taskId = await stack.submitAsync({ messages: [{ role: "user", content: "a long story on a borrowed upstream" }], configs: { model: "kill-model", max_tokens: 100, temperature: 0 } });
  await waitForTask(taskId, (task) => task.status === "RUNNING" && task.completionTokens >= 8, "running on the fallback with some tokens");
  expect(await backupInFlight()).toBe(1);
  first.kill("SIGKILL");
  expect(await exited(first)).toEqual({ code: null, signal: "SIGKILL" });

  const second = await stack.spawnWorker(SPAWNED);
  const done = await waitForTask(taskId, (task) => ["COMPLETED", "FAILED", "CANCELLED", "EXPIRED"].includes(task.status), "final after takeover");
  expect({ status: done.status, attempts: done.attempts, completionTokens: done.completionTokens, servedModel: done.servedModel, errorCode: done.errorCode }).toEqual({
    status: "COMPLETED",
    attempts: 2,
    completionTokens: 100,
    servedModel: "kill-backup",
    errorCode: null,
  });
  // It ended once. The final event is appended after the completion commits: wait for it, then count.
  const finals = await eventually(
    async () => {
      const found = (await stack.api.deps.log.readAfter(taskId, "0", 10_000)).filter((entry) => entry.event.type === "final");
      return found.length > 0 ? found : undefined;
    },
    { what: "the final event" },
  );
  expect(finals).toHaveLength(1);
  // The dead worker's borrow was ended (its slot freed): nothing in flight on the fallback's upstream.
  await eventually(async () => ((await backupInFlight()) === 0 ? true : undefined), { what: "the fallback's slot freed" });
  second.kill("SIGTERM");
  await exited(second);
});
