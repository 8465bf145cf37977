import type { BenchConfig } from "../config";
import { requestJson } from "../http-client";
import { freePort, nodeProcesses, startService, waitForOutput } from "../processes";
import { type Row, row } from "../report";
import { type BenchStack, UPSTREAM_MODEL } from "../stack";
import { medians, repeat, round } from "../stats";
import { costedLoad } from "./submit";

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
export async function benchPolling(stack: BenchStack, config: BenchConfig, notes: string[] = []): Promise<Row[]> {
  const { key, taskId } = await pollTarget(stack);
  const port = await freePort();
  const bare = startService("bare-poll", "bench/src/bare-poll-server.ts", { DATABASE_URL: stack.databaseUrl, PORT: String(port) });
  try {
    await waitForOutput(bare, "READY ");
    const api = nodeProcesses(stack.api.child.pid!);
    const barePids = nodeProcesses(bare.child.pid!);
    const runs = await repeat(config.repetitions, async (index) => {
      const seconds = index < 0 ? config.warmupSeconds : config.loadSeconds;
      const service = await costedLoad(stack, api, { url: `${stack.apiUrl}/v1/ai/tasks/${taskId}`, key, connections: config.connections, seconds });
      const raw = await costedLoad(stack, barePids, { url: `http://127.0.0.1:${port}/tasks/${taskId}`, key, connections: config.connections, seconds });
      return { service: service.perSecond, raw: raw.perSecond, p99: service.p99, rawP99: raw.p99, apiCpuUs: service.cpuUs, bareCpuUs: raw.cpuUs, redisPerPoll: service.redisCommands };
    });
    const m = medians(runs);
    notes.push(
      `figure 5, per poll (medians of the repetitions): API CPU ${round(m.apiCpuUs, 1)} µs (its ${api.length} Node processes; /proc, 10 ms ticks) against the bare route's ${round(m.bareCpuUs, 1)} µs; Redis commands processed ${round(m.redisPerPoll, 2)} (INFO stats).`,
    );
    return [
      row("5. polling", `GET /v1/ai/tasks/{id}/s, ${config.connections} clients`, "req/s", m.service, m.raw, { text: ">= 0.85x bare route", met: m.service >= 0.85 * m.raw }),
      row("5. polling", "latency p99", "ms", m.p99, m.rawP99),
    ];
  } finally {
    await bare.stop();
  }
}
