// The sweeper's search for final webhooks a crash left unwritten (a process died between a task's end and
// its delivery row), issue 17: a round reads only the tasks that ended since its last round (less a
// 5-minute overlap), not the last 24 hours again; a full pass over the 24 hours starts with each worker
// process and every SWEEP_WEBHOOK_PASS_MS, so a task that ended before the watermark is still repaired.
// Crashes are staged in SQL, as webhooks.test.ts does: a webhook set on an ended task that has no delivery.
import { WebhookDeliveryRepository } from "@llmq/db";
import type { RunningWorker } from "@llmq/worker";
import { type TestStack, startTestStack } from "@llmq/stack";
import { type WebhookReceiver, eventually, startWebhookReceiver } from "@llmq/testkit";

const FAST = "gemma-7b";

let stack: TestStack;
let receiver: WebhookReceiver;
/** Sweeps only when asked; its full pass comes back every hour (the default). */
let keeper: RunningWorker;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  stack = await startTestStack({
    worker: false,
    models: { providers: { fast: { type: "simulated", first_token_ms: 5, tokens_per_second: 2000 } }, models: [{ id: FAST, provider: "fast", concurrency: 4 }] },
    env: { SWEEP_INTERVAL_MS: "3600000", SWEEP_AFTER_MS: "200", WEBHOOK_ALLOWED_CIDRS: "127.0.0.1/32", WEBHOOK_RETRY_DELAYS_MS: "200" },
  });
  keeper = await stack.startWorker();
});
afterAll(async () => {
  await stack?.close();
  await receiver?.close();
});

const sql = () => stack.api.deps.db;

/** A completed task whose worker "died" before writing its final delivery, ended `minutesAgo` ago. */
async function lostDelivery(path: string, minutesAgo: number): Promise<string> {
  const taskId = await stack.submitAsync({ messages: [{ role: "user", content: path }], configs: { model: FAST, max_tokens: 4 } });
  await stack.finalTask(taskId);
  const webhook = JSON.stringify({ url: `${receiver.url}${path}`, events: ["completed"], key_id: null });
  await sql().$executeRaw`UPDATE tasks SET webhook = ${webhook}::jsonb,
      completed_at = now() - ${minutesAgo}::int * interval '1 minute', created_at = now() - ${minutesAgo}::int * interval '1 minute' - interval '1 second'
    WHERE task_id = ${taskId}`;
  return taskId;
}

async function deliveriesOf(taskId: string): Promise<string[]> {
  const rows = await sql().$queryRaw<{ id: string }[]>`SELECT id FROM webhook_deliveries WHERE task_id = ${taskId}`;
  return rows.map((row) => row.id);
}

describe("the sweeper's watermark over ended tasks' final webhooks", () => {
  it("a round reads what ended since the last one (and the overlap); what ended before waits for the full pass, which a new process starts", async () => {
    // This process's first round starts its full pass (nothing lost yet) and reads it to the present.
    await keeper.sweep();

    // Lost after that round: one ended a moment ago, one 3 minutes ago (a late commit or a clock behind:
    // inside the overlap), one 2 hours ago (before the watermark).
    const recent = await lostDelivery("/recent", 0);
    const late = await lostDelivery("/late", 3);
    const old = await lostDelivery("/old", 120);
    await new Promise((resolve) => setTimeout(resolve, 300)); // past SWEEP_AFTER_MS

    await keeper.sweep();
    expect(await deliveriesOf(recent)).toEqual([`msg_${recent}_completed`]);
    expect(await deliveriesOf(late)).toEqual([`msg_${late}_completed`]);
    // Not re-read by a round between passes: the last 24 hours are not scanned every 10 seconds.
    expect(await deliveriesOf(old)).toEqual([]);
    await keeper.sweep();
    expect(await deliveriesOf(old)).toEqual([]);

    // A worker that starts (after a restart, or another one) begins with a full pass: found.
    const restarted = await stack.startWorker();
    await restarted.sweep();
    expect(await deliveriesOf(old)).toEqual([`msg_${old}_completed`]);
    const [message] = await eventually(async () => (receiver.at("/old").length > 0 ? receiver.at("/old") : undefined), { what: "the old task's webhook" });
    expect(message!.headers["webhook-id"]).toBe(`msg_${old}_completed`);
    // Sent once: later rounds of either process find nothing missing.
    await keeper.sweep();
    await restarted.sweep();
    expect(await deliveriesOf(old)).toHaveLength(1);
    await restarted.close();
  });

  it("the full pass comes back every SWEEP_WEBHOOK_PASS_MS within a running process", async () => {
    const passing = await stack.startWorker({ SWEEP_WEBHOOK_PASS_MS: "1000" });
    try {
      await passing.sweep(); // its first pass
      const old = await lostDelivery("/next-pass", 180 * 6); // ended 18 hours ago, lost after the first pass
      await passing.sweep();
      expect(await deliveriesOf(old)).toEqual([]);
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      await passing.sweep(); // the next pass starts: its first page reads from 24 hours back
      expect(await deliveriesOf(old)).toEqual([`msg_${old}_completed`]);
    } finally {
      await passing.close();
    }
  });

  it("a pass reads its window in pages of the round's limit, and a page boundary inside one instant loses no task", async () => {
    // 7 tasks ended in the same millisecond an hour ago, each missing its delivery; pages of 3.
    const ids: string[] = [];
    for (let n = 0; n < 7; n++) ids.push(await lostDelivery(`/same-instant-${n}`, 60));
    await sql().$executeRaw`UPDATE tasks SET completed_at = date_trunc('second', now()) - interval '1 hour' WHERE task_id = ANY(${ids}::text[])`;
    const deliveries = new WebhookDeliveryRepository(sql());
    const found: string[] = [];
    let from = { at: new Date(Date.now() - 2 * 3600_000), id: "" };
    for (let page = 0; page < 10; page++) {
      const read = await deliveries.tasksMissingFinalDelivery(from, new Date(), 3);
      found.push(...read.missing);
      if (!read.next) break;
      from = read.next;
    }
    expect(found.filter((id) => ids.includes(id)).sort()).toEqual([...ids].sort());
    expect(new Set(found).size).toBe(found.length);
  });
});
