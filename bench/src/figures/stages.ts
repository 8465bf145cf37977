import http from "node:http";
import type { BenchConfig } from "../config";
import { agent, sseFrames } from "../http-client";
import { type Row, row } from "../report";
import { DEFAULT_TIER_DELAYS, runQueueKeys } from "@llmq/queue";
import { type BenchStack, UPSTREAM_MODEL, queueOf } from "../stack";
import { median, quantile, round } from "../stats";

/**
 * Figure 10: where the time to first token goes, one stream at a time. Each task is streamed through the
 * task API SSE (`?stream=true`), and its way is timed from the clocks it leaves behind (one machine, one
 * clock): the client's send, the row's `created_at` (the INSERT), its run-queue entry's enqueue stamp
 * (ENQUEUE: the score less its tier's delay) and lease time (`la`: the worker's DISPATCH), read while the
 * task still streams (the entry goes at its settle), the
 * row's `started_at` and `first_token_at` (the worker saw the upstream's first token), the first token
 * entry's stream id (its append) and the client's receipt of that token. Stream ids, run-queue stamps and
 * row times are whole milliseconds: the medians of many tasks are what to read.
 */

const BODY = JSON.stringify({
  messages: [{ role: "user", content: "Tell me a story." }],
  configs: { model: UPSTREAM_MODEL, max_tokens: 1_000, temperature: 0 },
});

/** Wall-clock milliseconds with a fraction (same clock as Date.now()). */
const now = () => performance.timeOrigin + performance.now();
const idTime = (id: string) => Number(id.split("-")[0]);

interface ClientSide {
  taskId: string;
  sentAt: number;
  runningId: string | null;
  firstTokenId: string;
  firstTokenAt: number;
  /** The run queue's entry, read when the first token arrived: enqueue stamp and lease time (ms). */
  queued: Promise<{ enqueuedAt: number; leasedAt: number }>;
}

/** The run queue keeps a task's entry until its settle: its score is `stamp × 1024 + the tier's delay × 1024`, `la` its lease time. */
async function queueStamps(stack: BenchStack, taskId: string): Promise<{ enqueuedAt: number; leasedAt: number }> {
  const keys = runQueueKeys(stack.redisPrefix, queueOf(UPSTREAM_MODEL));
  const [score, tier, leasedAt] = await stack.redis.hmget(keys.task(taskId), "sc", "ti", "la");
  if (!score || !leasedAt) throw new Error(`task ${taskId}: its run-queue entry was gone at its first token`);
  const delay = tier === "default" ? DEFAULT_TIER_DELAYS.default : tier === "flex" ? DEFAULT_TIER_DELAYS.flex : 0;
  return { enqueuedAt: Math.floor(Number(score) / 1024) - delay, leasedAt: Number(leasedAt) };
}

/** One streamed task: the ids and arrival times the client sees. */
function streamOne(stack: BenchStack): Promise<ClientSide> {
  return new Promise((resolve, reject) => {
    const sentAt = now();
    let taskId = "";
    let runningId: string | null = null;
    let firstToken: { id: string; at: number } | null = null;
    let queued: ClientSide["queued"] | null = null;
    const req = http.request(
      `${stack.apiUrl}/v1/ai/text_completion?stream=true`,
      { method: "POST", agent, headers: { authorization: `Bearer ${stack.adminKey}`, "content-type": "application/json", "content-length": Buffer.byteLength(BODY) } },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`stream answered ${res.statusCode}`));
          return;
        }
        res.setEncoding("utf8");
        let at = 0;
        const split = sseFrames(({ event, id, data }) => {
          if (event === "status") {
            const status = JSON.parse(data) as { task_id: string; status: string };
            taskId = status.task_id;
            if (status.status === "RUNNING" && !runningId) runningId = id;
          } else if (event === "token" && !firstToken) {
            firstToken = { id, at };
            queued = queueStamps(stack, taskId);
            queued.catch(() => undefined);
          }
          else if (event === "result") {
            res.destroy();
            if (!firstToken || !queued) reject(new Error("a stream without a token"));
            else resolve({ taskId, sentAt, runningId, firstTokenId: firstToken.id, firstTokenAt: firstToken.at, queued });
            return false;
          }
        });
        res.on("data", (chunk: string) => {
          at = now();
          split(chunk);
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(BODY);
  });
}

/** The stages of one task, in milliseconds. */
type Stages = Record<(typeof STAGES)[number][0], number>;

const STAGES = [
  ["submit", "client sends -> row inserted (created_at)"],
  ["enqueue", "row -> run-queue entry added (its enqueue stamp; the INSERT's commit, the enqueue)"],
  ["pickup", "entry added -> leased by the worker's DISPATCH (its lease time)"],
  ["upstream", "leased -> upstream's first token seen by the worker (first_token_at)"],
  ["tokenEvent", "first token seen -> appended (its stream id)"],
  ["relay", "first token appended -> received by the client"],
  ["startCommit", "(beside the path) leased -> start committed (started_at)"],
  ["total", "time to first token (client)"],
] as const;

async function stagesOf(stack: BenchStack, client: ClientSide): Promise<Stages> {
  const { rows } = await stack.pg.query<{ created: string; started: string; first: string }>(
    `SELECT extract(epoch FROM created_at) * 1000 AS created, extract(epoch FROM started_at) * 1000 AS started,
            extract(epoch FROM first_token_at) * 1000 AS first FROM tasks WHERE task_id = $1`,
    [client.taskId],
  );
  const task = rows[0];
  if (!task) throw new Error(`task ${client.taskId} not found`);
  const { enqueuedAt: jobAdded, leasedAt: fetched } = await client.queued;
  const created = Number(task.created);
  const firstSeen = Number(task.first);
  const tokenAppended = idTime(client.firstTokenId);
  return {
    submit: created - client.sentAt,
    enqueue: jobAdded - created,
    pickup: fetched - jobAdded,
    upstream: firstSeen - fetched,
    tokenEvent: tokenAppended - firstSeen,
    relay: client.firstTokenAt - tokenAppended,
    startCommit: Number(task.started) - fetched,
    total: client.firstTokenAt - client.sentAt,
  };
}

/**
 * Figure 10: per-stage p50 (and p90) of the time to first token, over BENCH_STAGE_TASKS tasks, at each wave
 * size of BENCH_STAGE_STREAMS (one stream at a time; 50 at once, figure 4's load).
 */
export async function benchStages(stack: BenchStack, config: BenchConfig, notes: string[]): Promise<Row[]> {
  const rows: Row[] = [];
  for (const streams of config.stageStreams) rows.push(...(await stagesAt(stack, config, streams, notes)));
  return rows;
}

async function stagesAt(stack: BenchStack, config: BenchConfig, streams: number, notes: string[]): Promise<Row[]> {
  /** One wave: `streams` tasks started at once, their stages read once all ended. */
  const wave = async () => {
    const clients = await Promise.all(Array.from({ length: streams }, () => streamOne(stack)));
    const stages: Stages[] = [];
    for (const client of clients) stages.push(await stagesOf(stack, client));
    return stages;
  };
  for (let i = 0; i < Math.max(1, Math.ceil(10 / streams)); i++) await wave(); // warm-up
  const all: Stages[] = [];
  while (all.length < config.stageTasks) all.push(...(await wave()));
  const rows: Row[] = [];
  for (const [key, label] of STAGES) {
    const values = all.map((stages) => stages[key]);
    const at = streams === 1 ? "" : `, ${streams} streams at once`;
    rows.push(row("10. stages", `${label}${at}, p50`, "ms", median(values), null));
    rows.push(row("10. stages", `${label}${at}, p90`, "ms", quantile(values, 0.9), null));
  }
  const sum = STAGES.filter(([key]) => key !== "startCommit" && key !== "total").reduce((total, [key]) => total + median(all.map((stages) => stages[key])), 0);
  notes.push(`figure 10: ${all.length} tasks ${streams === 1 ? "one at a time" : `in waves of ${streams} at once`}; the stages' p50s add up to ${round(sum)} ms (p50 of the whole: ${round(median(all.map((s) => s.total)))} ms); row, run-queue and stream times are whole milliseconds.`);
  return rows;
}
