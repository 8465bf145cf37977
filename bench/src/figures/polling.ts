import type { BenchConfig } from "../config";
import { requestJson } from "../http-client";
import { freePort, startService, waitForOutput } from "../processes";
import { type Row, row } from "../report";
import { type BenchStack, UPSTREAM_MODEL } from "../stack";
import { medians, repeat } from "../stats";
import { load } from "./submit";

/** A user's key (not the admin's: a real poller's key is looked up) and one completed task of that user. */
async function pollTarget(stack: BenchStack): Promise<{ key: string; taskId: string }> {
  const created = await requestJson<{ data: { data: { key: string } } }>(`${stack.apiUrl}/v1/admin/keys`, { key: stack.adminKey, body: { name: `bench-${Date.now()}` } });
  const key = created.data.data.key;
  const task = await requestJson<{ data: { data: { task_id: string; status: string } } }>(`${stack.apiUrl}/v1/ai/text_completion`, {
    key,
    body: { messages: [{ role: "user", content: "poll me" }], configs: { model: UPSTREAM_MODEL, max_tokens: 16, top_k: 10, top_p: 0.9, temperature: 0 } },
  });
  if (task.data.data.status !== "COMPLETED") throw new Error(`polling target ended ${task.data.data.status}`);
  return { key, taskId: task.data.data.task_id };
}

/** Figure 5: GET /v1/ai/tasks/{id} requests/s vs a bare Express route doing the same lookup with pg. */
export async function benchPolling(stack: BenchStack, config: BenchConfig): Promise<Row[]> {
  const { key, taskId } = await pollTarget(stack);
  const port = await freePort();
  const bare = startService("bare-poll", "bench/src/bare-poll-server.ts", { DATABASE_URL: stack.databaseUrl, PORT: String(port) });
  try {
    await waitForOutput(bare, "READY ");
    const runs = await repeat(config.repetitions, async (index) => {
      const seconds = index < 0 ? config.warmupSeconds : config.loadSeconds;
      const service = await load({ url: `${stack.apiUrl}/v1/ai/tasks/${taskId}`, key, connections: config.connections, seconds });
      const raw = await load({ url: `http://127.0.0.1:${port}/tasks/${taskId}`, key, connections: config.connections, seconds });
      return { service: service.perSecond, raw: raw.perSecond, p99: service.p99, rawP99: raw.p99 };
    });
    const m = medians(runs);
    return [
      row("5. polling", `GET /v1/ai/tasks/{id}/s, ${config.connections} clients`, "req/s", m.service, m.raw, { text: ">= 0.85x bare route", met: m.service >= 0.85 * m.raw }),
      row("5. polling", "latency p99", "ms", m.p99, m.rawP99),
    ];
  } finally {
    await bare.stop();
  }
}
