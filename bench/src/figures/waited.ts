import http from "node:http";
import { keySpace } from "@llmq/queue";
import type { BenchConfig } from "../config";
import { agent, requestJson } from "../http-client";
import { type Row, row } from "../report";
import { type BenchStack, UPSTREAM_MODEL } from "../stack";
import { median, quantile, round, sleep } from "../stats";

/**
 * Figure 12: where a waited (non-stream) completion's time goes, one request at a time, as figure 10 does
 * for a stream's first token. Each `POST /v1/chat/completions` (a user's key, the same request as figures 8
 * and 9) is split by the clocks it leaves behind (one machine, one clock): the client's send; the row's
 * `created_at` (the INSERT's start); the row's `started_at` (the worker's clock when it asked to start
 * the attempt, right after its DISPATCH leased the task), `first_token_at` (the upstream's first token seen) and `completed_at` (the
 * worker's clock when it asked to complete); the final entry's stream id (the completion committed, its
 * events appended); the client's receipt of the whole answer. The fixture called directly, alternating
 * with llmq each round, is the upstream's own time.
 */

const BODY = JSON.stringify({ model: UPSTREAM_MODEL, messages: [{ role: "user", content: "[[fixture:tokenDelayMs=0]] What is a queue?" }], max_tokens: 16 });

/** Wall-clock milliseconds with a fraction (same clock as Date.now()). */
const now = () => performance.timeOrigin + performance.now();
const idTime = (id: string) => Number(id.split("-")[0]);

interface Answer {
  sentAt: number;
  receivedAt: number;
  taskId: string | null;
  overheadMs: number | null;
}

function post(url: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const sentAt = now();
    const req = http.request(url, { method: "POST", agent, headers: { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(BODY) } }, (res) => {
      res.resume();
      res.on("end", () => {
        const receivedAt = now();
        if (res.statusCode !== 200) return reject(new Error(`${url} answered ${res.statusCode}`));
        const taskId = res.headers["x-task-id"];
        const overhead = res.headers["x-llmq-overhead-ms"];
        resolve({ sentAt, receivedAt, taskId: typeof taskId === "string" ? taskId : null, overheadMs: typeof overhead === "string" ? Number(overhead) : null });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(BODY);
  });
}

const STAGES = [
  ["submit", "client sends -> row inserted (created_at)"],
  ["pickup", "row -> attempt asked to start (started_at: the INSERT's commit, enqueue, wake, DISPATCH)"],
  ["upstream", "attempt asked to start -> upstream's first token seen (first_token_at)"],
  ["rest", "first token -> completion asked (completed_at: the rest of the answer, the start's commit)"],
  ["complete", "completion asked -> final event appended (its stream id: UPDATE, commit, append)"],
  ["answer", "final appended -> answer received by the client (the final notice, the API's answer)"],
  ["startCommit", "(beside the path) attempt asked to start -> RUNNING appended (start committed)"],
  ["total", "whole request (client)"],
  ["direct", "the fixture called directly (same rounds)"],
  ["overhead", "x-llmq-overhead-ms"],
] as const;

type Stages = Record<(typeof STAGES)[number][0], number>;

/** Figure 12: per-stage p50 (and p90) of a waited completion at concurrency 1, over BENCH_STAGE_TASKS requests. */
export async function benchWaited(stack: BenchStack, config: BenchConfig, notes: string[]): Promise<Row[]> {
  const created = await requestJson<{ data: { data: { key: string } } }>(`${stack.apiUrl}/v1/admin/keys`, { key: stack.adminKey, body: { name: `bench-waited-${Date.now()}` } });
  const llmq = { url: `${stack.apiUrl}/v1/chat/completions`, headers: { authorization: `Bearer ${created.data.data.key}` } };
  const direct = { url: `${stack.fixtureUrl}/chat/completions`, headers: { authorization: "Bearer bench" } };
  const keys = keySpace(stack.redisPrefix);
  for (let i = 0; i < 20; i++) await post(llmq.url, llmq.headers); // warm-up
  const all: (Stages & { at: number })[] = [];
  const gcBefore = await gcReadings(stack);
  const startedAt = now();
  for (let i = 0; i < config.stageTasks; i++) {
    const d = await post(direct.url, direct.headers);
    const answer = await post(llmq.url, llmq.headers);
    if (!answer.taskId) throw new Error("a completion answered without x-task-id");
    const { rows } = await stack.pg.query<{ created: string; started: string; first: string; completed: string }>(
      `SELECT extract(epoch FROM created_at) * 1000 AS created, extract(epoch FROM started_at) * 1000 AS started,
              extract(epoch FROM first_token_at) * 1000 AS first, extract(epoch FROM completed_at) * 1000 AS completed FROM tasks WHERE task_id = $1`,
      [answer.taskId],
    );
    const task = rows[0];
    if (!task) throw new Error(`task ${answer.taskId} not found`);
    // A request whose check once subscribed found the row final already answers before the final entry is
    // appended (the row is committed first): read the stream until the entry is there (a few ms at most).
    let runningId: string | undefined;
    let finalId: string | undefined;
    for (let tries = 0; tries < 100 && !finalId; tries++) {
      if (tries > 0) await sleep(1);
      const entries = (await stack.redis.xrange(keys.taskEvents(answer.taskId), "-", "+")) as [string, string[]][];
      const idOf = (test: (event: { type: string; status?: string }) => boolean) => entries.find(([, fields]) => test(JSON.parse(fields[1]!) as { type: string; status?: string }))?.[0];
      runningId = idOf((e) => e.type === "status" && e.status === "RUNNING");
      finalId = idOf((e) => e.type === "final");
    }
    if (!runningId || !finalId) throw new Error(`task ${answer.taskId}: its stream lacks RUNNING or final`);
    const [createdAt, startedAt, firstAt, completedAt] = [task.created, task.started, task.first, task.completed].map(Number) as [number, number, number, number];
    all.push({
      at: answer.sentAt,
      submit: createdAt - answer.sentAt,
      pickup: startedAt - createdAt,
      upstream: firstAt - startedAt,
      rest: completedAt - firstAt,
      complete: idTime(finalId) - completedAt,
      answer: answer.receivedAt - idTime(finalId),
      startCommit: idTime(runningId) - startedAt,
      total: answer.receivedAt - answer.sentAt,
      direct: d.receivedAt - d.sentAt,
      overhead: answer.overheadMs ?? Number.NaN,
    });
  }
  const rowsOut: Row[] = [];
  for (const [key, label] of STAGES) {
    const values = all.map((stages) => stages[key]);
    rowsOut.push(row("12. waited", `${label}, p50`, "ms", median(values), null));
    rowsOut.push(row("12. waited", `${label}, p90`, "ms", quantile(values, 0.9), null));
    rowsOut.push(row("12. waited", `${label}, p99`, "ms", quantile(values, 0.99), null));
  }
  const sum = PATH.reduce((total, key) => total + median(all.map((stages) => stages[key])), 0);
  notes.push(
    `figure 12: ${all.length} waited completions one at a time (a user's key); the stages' p50s add up to ${round(sum)} ms (p50 of the whole: ${round(median(all.map((s) => s.total)))} ms, direct ${round(median(all.map((s) => s.direct)))} ms); stream ids are whole milliseconds.`,
    tailNote(all, startedAt),
    gcNote(gcBefore, await gcReadings(stack), all.length),
  );
  return rowsOut;
}

/** The stages on the request's path, in order (they add up to the whole). */
const PATH = ["submit", "pickup", "upstream", "rest", "complete", "answer"] as const;

/**
 * Where the slowest requests lost their time: the slowest 2 % by the whole request (at least one), each
 * stage's excess over its own p50, and which stage held the largest excess in how many of them; then each
 * slow request (its send time from the figure's start, the whole, its stages).
 */
function tailNote(all: readonly (Stages & { at: number })[], startedAt: number): string {
  const slow = [...all].sort((a, b) => b.total - a.total).slice(0, Math.max(1, Math.ceil(all.length * 0.02)));
  const p50 = Object.fromEntries(PATH.map((key) => [key, median(all.map((s) => s[key]))])) as Record<(typeof PATH)[number], number>;
  const held = new Map<string, number>();
  for (const s of slow) {
    const worst = PATH.reduce((a, b) => (s[b] - p50[b] > s[a] - p50[a] ? b : a));
    held.set(worst, (held.get(worst) ?? 0) + 1);
  }
  const excess = PATH.map((key) => `${key} +${round(median(slow.map((s) => s[key] - p50[key])))}`).join(", ");
  const each = slow
    .map((s) => `at ${round((s.at - startedAt) / 1000, 1)} s: ${round(s.total)} ms (${PATH.map((key) => `${key} ${round(s[key], 1)}`).join(", ")}; direct ${round(s.direct)})`)
    .join("; ");
  return `figure 12, the slowest ${slow.length} of ${all.length} (whole >= ${round(slow[slow.length - 1]!.total)} ms, p50 ${round(median(all.map((s) => s.total)))}): the stage with the largest excess over its p50: ${[...held].map(([key, n]) => `${key} ${n}`).join(", ")}; median excess by stage: ${excess}. Each: ${each}.`;
}

/** A process's garbage collections so far, by kind (prom-client's nodejs_gc_duration_seconds), and its event loop's delay since the last reading. */
interface GcReading {
  name: string;
  count: Map<string, number>;
  seconds: Map<string, number>;
  lagMaxMs: number;
  lagP99Ms: number;
}

/** The API's (all its processes, merged by its /metrics) and each worker's GC counters and event-loop delay (reading resets the delay's histogram). */
async function gcReadings(stack: BenchStack): Promise<GcReading[]> {
  const sources = [
    { name: "API", url: `${stack.apiUrl}/metrics`, headers: { authorization: `Bearer ${stack.adminKey}` } },
    ...stack.workers().map((worker) => ({ name: worker.name, url: worker.metricsUrl, headers: {} })),
  ];
  return Promise.all(
    sources.map(async ({ name, url, headers }) => {
      const text = await (await fetch(url, { headers })).text();
      const count = new Map<string, number>();
      const seconds = new Map<string, number>();
      for (const [, suffix, kind, value] of text.matchAll(/^nodejs_gc_duration_seconds_(sum|count)\{[^}]*kind="([a-z]+)"[^}]*\} ([0-9.e+-]+)$/gm)) {
        const into = suffix === "sum" ? seconds : count;
        into.set(kind!, (into.get(kind!) ?? 0) + Number(value));
      }
      const gauge = (metric: string) => Math.max(0, ...[...text.matchAll(new RegExp(`^${metric}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, "gm"))].map((m) => Number(m[1]) * 1000));
      return { name, count, seconds, lagMaxMs: gauge("nodejs_eventloop_lag_max_seconds"), lagP99Ms: gauge("nodejs_eventloop_lag_p99_seconds") };
    }),
  );
}

/** Collections each process made during the figure (count and summed pause by kind) and its event loop's delay. */
function gcNote(before: readonly GcReading[], after: readonly GcReading[], requests: number): string {
  const parts = after.map((reading) => {
    const earlier = before.find((b) => b.name === reading.name);
    const kinds = [...reading.count.keys()]
      .map((kind) => {
        const n = reading.count.get(kind)! - (earlier?.count.get(kind) ?? 0);
        const ms = (reading.seconds.get(kind)! - (earlier?.seconds.get(kind) ?? 0)) * 1000;
        return n > 0 ? `${kind} ${n} (${round(ms, 1)} ms)` : null;
      })
      .filter((part) => part !== null);
    return `${reading.name}: ${kinds.join(", ") || "none"}; event-loop delay p99 ${round(reading.lagP99Ms, 1)} ms, max ${round(reading.lagMaxMs, 1)} ms`;
  });
  return `figure 12, garbage collections during its ${requests} requests (nodejs_gc_duration_seconds): ${parts.join("; ")}.`;
}
