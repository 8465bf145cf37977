/**
 * Soak: mixed load on the whole stack for SOAK_SECONDS (default 600) while worker processes are killed
 * at random (SIGKILL mostly, SIGTERM sometimes) and replaced, as a restart policy would. Then waits for
 * every accepted task to reach a final state and checks each told one story: one final event, and the
 * attempt that finished alone spells the stored text with usage counted once. Prints the counts; exits 1
 * if a task was lost or done twice. Run through `npm run soak` (scripts/soak.sh starts Postgres and Redis).
 */
import type { ChildProcess } from "node:child_process";
import { startOpenAIFixture } from "@llmq/testkit";
import { startTestStack } from "@llmq/stack";

const SECONDS = Number(process.env.SOAK_SECONDS ?? 600);
const WORKERS = Number(process.env.SOAK_WORKERS ?? 3);
const CLIENTS = Number(process.env.SOAK_CLIENTS ?? 8);
const FINAL = new Set(["COMPLETED", "FAILED", "CANCELLED", "EXPIRED"]);

type Kind = "flex-async" | "flex-sync" | "flex-stream" | "openai" | "openai-stream" | "cancel" | "upstream-flaky";
const KINDS: Kind[] = ["flex-async", "flex-async", "flex-sync", "flex-stream", "openai", "openai-stream", "cancel", "upstream-flaky"];

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (message: string) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${message}`);

async function main(): Promise<void> {
  const fixture = await startOpenAIFixture({ behaviour: { tokenDelayMs: 20 } });
  const stack = await startTestStack({
    worker: false,
    models: {
      providers: {
        fast: { type: "simulated", first_token_ms: 5, tokens_per_second: 400 },
        slow: { type: "simulated", first_token_ms: 20, tokens_per_second: 40 },
        upstream: { type: "openai", base_url: fixture.url, api_key: "soak-key", timeout_ms: 10_000 },
      },
      models: [
        { id: "gemma-7b", provider: "fast", concurrency: 8 },
        { id: "llama-3.1-8b-instruct", provider: "slow", concurrency: 6 },
        { id: "upstream-model", provider: "upstream", upstream_model: "fixture-model", concurrency: 6 },
      ],
    },
    env: { SWEEP_INTERVAL_MS: "2000", SWEEP_AFTER_MS: "15000", RATE_LIMIT_PER_MINUTE: "0", WAIT_DEFAULT_SECONDS: "30" },
  });
  const workers: ChildProcess[] = [];
  const spawn = async () => workers.push(await stack.spawnWorker());
  for (let i = 0; i < WORKERS; i++) await spawn();
  log(`stack at ${stack.url}, ${WORKERS} worker processes, ${CLIENTS} clients, ${SECONDS} s`);

  const accepted = new Map<string, Kind>();
  const refused: Record<string, number> = {};
  let requestErrors = 0;
  let kills = 0;
  let terms = 0;
  const until = Date.now() + SECONDS * 1000;
  const messages = (kind: string, i: number) => [{ role: "user", content: `soak ${kind} ${i} ${Math.random().toString(36).slice(2, 8)}` }];

  const one = async (kind: Kind, i: number): Promise<void> => {
    const model = pick(["gemma-7b", "llama-3.1-8b-instruct"]);
    const configs = { model, max_tokens: 10 + Math.floor(Math.random() * 60), temperature: 0 };
    let res: Response;
    if (kind === "openai" || kind === "openai-stream") {
      res = await stack.request("/v1/chat/completions", { method: "POST", json: { model, messages: messages(kind, i), max_tokens: configs.max_tokens, stream: kind === "openai-stream" } });
    } else if (kind === "upstream-flaky") {
      const marker = Math.random() < 0.5 ? " [[fixture:status=500,retryAfterMs=100,failFirst=1]]" : "";
      res = await stack.request("/v1/ai/text_completion?async=true", {
        method: "POST",
        json: { messages: [{ role: "user", content: `soak upstream ${i}${marker}` }], configs: { model: "upstream-model", max_tokens: 50 } },
      });
    } else {
      const query = kind === "flex-sync" ? "" : kind === "flex-stream" ? "?stream=true" : "?async=true";
      res = await stack.request(`/v1/ai/text_completion${query}`, { method: "POST", json: { messages: messages(kind, i), configs } });
    }
    const taskId = res.headers.get("x-task-id");
    if (!res.ok || !taskId) {
      refused[res.status] = (refused[res.status] ?? 0) + 1;
      await res.text();
      return;
    }
    accepted.set(taskId, kind);
    await res.arrayBuffer(); // streams are read to their end
    if (kind === "cancel") {
      await sleep(Math.random() * 1500);
      await (await stack.request(`/v1/ai/tasks/${taskId}/cancel`, { method: "POST" })).arrayBuffer();
    }
  };

  const clients = Array.from({ length: CLIENTS }, async (_, c) => {
    for (let i = 0; Date.now() < until; i++) {
      await one(pick(KINDS), c * 1_000_000 + i).catch(() => requestErrors++);
      await sleep(Math.random() * 200);
    }
  });
  const chaos = (async () => {
    while (Date.now() < until) {
      await sleep(3_000 + Math.random() * 9_000);
      if (Date.now() >= until) break;
      const victim = workers.splice(Math.floor(Math.random() * workers.length), 1)[0]!;
      const signal = Math.random() < 0.75 ? "SIGKILL" : "SIGTERM";
      if (signal === "SIGKILL") kills++;
      else terms++;
      victim.kill(signal);
      await spawn();
      log(`${signal} to a worker (${kills} killed, ${terms} terminated so far); ${accepted.size} tasks accepted`);
    }
  })();
  await Promise.all([...clients, chaos]);
  log(`load stopped: ${accepted.size} accepted; waiting for every task to finish`);

  const drainDeadline = Date.now() + 180_000;
  let pending = [...accepted.keys()];
  while (pending.length > 0 && Date.now() < drainDeadline) {
    const rows = await stack.api.deps.db.task.findMany({ where: { id: { in: pending } }, select: { id: true, status: true } });
    const open = new Set(rows.filter((row) => !FINAL.has(row.status)).map((row) => row.id));
    pending = pending.filter((id) => open.has(id) || !rows.some((row) => row.id === id));
    if (pending.length > 0) await sleep(1_000);
  }

  const counts: Record<string, number> = { COMPLETED: 0, FAILED: 0, CANCELLED: 0, EXPIRED: 0 };
  const problems: string[] = [];
  let retried = 0;
  let duplicates = 0;
  for (const [taskId, kind] of accepted) {
    const task = await stack.api.deps.tasks.findById(taskId);
    if (!task || !FINAL.has(task.status)) continue;
    counts[task.status] = (counts[task.status] ?? 0) + 1;
    if (task.attempts > 1) retried++;
    const events = (await stack.api.deps.log.readAfter(taskId, "0", 20_000)).map((entry) => entry.event);
    const finals = events.filter((event) => event.type === "final");
    const tokens = events.filter((event) => event.type === "token" && event.attempt === task.attempts && (event.choice ?? 0) === 0);
    const text = tokens.map((event) => (event.type === "token" ? event.delta : "")).join("");
    const twice = finals.length !== 1 || (task.status === "COMPLETED" && (text !== task.response || task.completionTokens !== tokens.length));
    if (twice) {
      duplicates++;
      problems.push(`${taskId} (${kind}, ${task.status}, attempt ${task.attempts}): ${finals.length} final events, stored ${task.completionTokens} tokens, last attempt streamed ${tokens.length}`);
    }
    if (task.status === "FAILED" && kind !== "upstream-flaky") problems.push(`${taskId} (${kind}) FAILED: ${task.errorCode} ${task.errorMessage}`);
  }
  const lost = pending.length;
  for (const taskId of pending) problems.push(`${taskId} (${accepted.get(taskId)}) never reached a final state`);

  const summary = {
    seconds: SECONDS,
    workers: WORKERS,
    clients: CLIENTS,
    accepted: accepted.size,
    completed: counts.COMPLETED,
    failed: counts.FAILED,
    cancelled: counts.CANCELLED,
    expired: counts.EXPIRED,
    lost,
    duplicates,
    retried_or_taken_over: retried,
    workers_sigkilled: kills,
    workers_sigtermed: terms,
    refused_by_status: refused,
    client_errors: requestErrors,
  };
  console.log(JSON.stringify(summary, null, 2));
  for (const problem of problems.slice(0, 20)) console.log(`problem: ${problem}`);

  for (const worker of workers) worker.kill("SIGTERM");
  await stack.close();
  await fixture.close();
  process.exit(lost === 0 && duplicates === 0 && problems.length === 0 ? 0 : 1);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
