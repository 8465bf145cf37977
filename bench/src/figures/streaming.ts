import type { BenchConfig } from "../config";
import { startFloor } from "../floor";
import { type SseReader, type StreamTiming, openAIEvents, taskApiEvents, timeStream } from "../http-client";
import { type Row, row } from "../report";
import { cpuMs, nodeProcesses } from "../processes";
import { type BenchStack, UPSTREAM_MODEL } from "../stack";
import { median, quantile, repeat, round } from "../stats";
import { deleteBaselineRows } from "./cleanup";

const MESSAGES = [{ role: "user", content: "Tell me a story." }];

export interface Path {
  name: string;
  url: (stack: BenchStack) => string;
  headers: (stack: BenchStack) => Record<string, string>;
  body: unknown;
  read: SseReader;
  /** The processes whose CPU a wave counts as "API" and "worker" (default: the service's API and workers). */
  processes?: () => { api: number[]; worker: number[] };
}

export const PATHS: Path[] = [
  {
    name: "direct",
    url: (stack) => `${stack.fixtureUrl}/chat/completions`,
    headers: () => ({ authorization: "Bearer bench" }),
    body: { model: UPSTREAM_MODEL, messages: MESSAGES, stream: true, max_tokens: 1_000 },
    read: openAIEvents,
  },
  {
    name: "task API SSE",
    url: (stack) => `${stack.apiUrl}/v1/ai/text_completion?stream=true`,
    headers: (stack) => ({ authorization: `Bearer ${stack.adminKey}` }),
    body: { messages: MESSAGES, configs: { model: UPSTREAM_MODEL, max_tokens: 1_000, top_k: 10, top_p: 0.9, temperature: 0 } },
    read: taskApiEvents,
  },
  {
    name: "OpenAI stream",
    url: (stack) => `${stack.apiUrl}/v1/chat/completions`,
    headers: (stack) => ({ authorization: `Bearer ${stack.adminKey}` }),
    body: { model: UPSTREAM_MODEL, messages: MESSAGES, stream: true, max_tokens: 1_000 },
    read: openAIEvents,
  },
];

/** Added time to first token (service - direct) p50 by concurrency (issue 12 at 1 stream, issue 13 at 50), and token pace at 200 streams (issue 12). */
const ADDED_TTFT_TARGET_MS: Record<number, number> = { 1: 5, 50: 20 };
const PACE_TARGET = { streams: 200, ratio: 0.97 };

/** `streams` concurrent streams over one path: TTFT p50, gap p50/p99, median tokens/s, and the API's and workers' CPU per stream (ms). */
export async function wave(stack: BenchStack, path: Path, streams: number) {
  const own = path.processes?.();
  const api = own?.api ?? nodeProcesses(stack.api.child.pid!);
  const workers = own?.worker ?? stack.workers().flatMap((worker) => nodeProcesses(worker.child.pid!));
  const before = { api: cpuMs(api), worker: cpuMs(workers) };
  const timings: StreamTiming[] = await Promise.all(Array.from({ length: streams }, () => timeStream(path.url(stack), path.headers(stack), path.body, path.read)));
  const gaps = timings.flatMap((t) => t.gapsMs);
  return {
    ttftP50: median(timings.map((t) => t.firstTokenMs)),
    ttftMax: Math.max(...timings.map((t) => t.firstTokenMs)),
    gapP50: quantile(gaps, 0.5),
    gapP99: quantile(gaps, 0.99),
    tokensPerSecond: median(timings.map((t) => t.tokensPerSecond)),
    apiCpuMs: (cpuMs(api) - before.api) / streams,
    workerCpuMs: (cpuMs(workers) - before.worker) / streams,
  };
}

/**
 * Waves of each path per repetition. One stream is one sample: three repetitions of one wave gave a "p50"
 * of three single streams, the first ones through a worker that had served nothing yet (its connections,
 * scripts and code still cold), which read 7-9 ms added where figure 10's 200 streams read ~4. At one
 * stream each repetition runs SINGLE_STREAM_WAVES waves per path (the paths still take turns), so the
 * row is a median of that many streams per repetition; larger waves are one wave per repetition.
 */
const SINGLE_STREAM_WAVES = 10;
const wavesPerRepetition = (streams: number) => (streams === 1 ? SINGLE_STREAM_WAVES : 1);

/**
 * Figure 4: time to first token and token pace through the service (task API SSE, OpenAI stream) vs the
 * upstream called directly, and through the design floor (`floor-main.ts`: only the steps DESIGN.md's rules
 * require of a stream, with bare clients: the row committed in a group before its job, a worker process
 * calling the upstream, each token appended to the task's Redis Stream and relayed), the lower bound of any
 * service keeping those rules on this machine.
 */
export async function benchStreaming(stack: BenchStack, config: BenchConfig, notes: string[] = []): Promise<Row[]> {
  const floor = await startFloor(stack);
  const [edge, runner] = floor.services.map((service) => nodeProcesses(service.child.pid!));
  const floorPath: Path = { ...PATHS[0]!, name: "design floor", url: () => `${floor.url}/v1/chat/completions`, headers: () => ({}), processes: () => ({ api: edge!, worker: runner! }) };
  try {
    return await streamingRows(stack, config, notes, [...PATHS, floorPath]);
  } finally {
    for (const service of floor.services) await service.stop();
    await deleteBaselineRows(stack);
  }
}

async function streamingRows(stack: BenchStack, config: BenchConfig, notes: string[], paths: Path[]): Promise<Row[]> {
  const rows: Row[] = [];
  for (const streams of config.streamConcurrencies) {
    const byPath = new Map<string, Awaited<ReturnType<typeof wave>>[]>();
    await repeat(config.repetitions, async (index) => {
      // Paths alternate inside each repetition, so a noisy moment hits all of them alike, and each
      // repetition starts with the next path: with a fixed order the OpenAI stream always began as the task
      // API's 50 streams ended (their completions, settles and garbage), and the task API never did.
      const first = (index + 1) % paths.length;
      for (let round = 0; round < wavesPerRepetition(streams); round++) {
        for (const path of [...paths.slice(first), ...paths.slice(0, first)]) {
          const result = await wave(stack, path, streams);
          if (index >= 0) byPath.set(path.name, [...(byPath.get(path.name) ?? []), result]);
        }
      }
    });
    const med = (name: string, key: "ttftP50" | "gapP50" | "gapP99" | "tokensPerSecond" | "apiCpuMs" | "workerCpuMs") => median((byPath.get(name) ?? []).map((r) => r[key]));
    // Each repetition's TTFT p50 (at one stream, the median of its waves' single streams).
    const waves = (name: string) => {
      const all = byPath.get(name) ?? [];
      const per = wavesPerRepetition(streams);
      return Array.from({ length: all.length / per }, (_, i) => round(median(all.slice(i * per, (i + 1) * per).map((r) => r.ttftP50)))).join(", ");
    };
    const slowest = (name: string) => round(Math.max(...(byPath.get(name) ?? []).map((r) => r.ttftMax)));
    notes.push(
      `figure 4, ${streams} streams: slowest first token (ms): direct ${slowest("direct")}, task API SSE ${slowest("task API SSE")}, OpenAI stream ${slowest("OpenAI stream")}; CPU per stream (API / worker processes, /proc, 10 ms ticks over the wave): task API SSE ${round(med("task API SSE", "apiCpuMs"))} / ${round(med("task API SSE", "workerCpuMs"))} ms, OpenAI stream ${round(med("OpenAI stream", "apiCpuMs"))} / ${round(med("OpenAI stream", "workerCpuMs"))} ms; TTFT p50 of each repetition (ms): direct ${waves("direct")}; task API SSE ${waves("task API SSE")}; OpenAI stream ${waves("OpenAI stream")}; design floor ${waves("design floor")} (slowest first token ${slowest("design floor")}, CPU per stream edge / runner ${round(med("design floor", "apiCpuMs"))} / ${round(med("design floor", "workerCpuMs"))} ms).`,
    );
    const direct = { ttft: med("direct", "ttftP50"), pace: med("direct", "tokensPerSecond"), gap: med("direct", "gapP99") };
    /** This concurrency's added-TTFT target, for llmq's paths and for the design floor (whether DESIGN.md's rules can meet it here at all). */
    const addedTarget = ADDED_TTFT_TARGET_MS[streams];
    const addedTtftTarget = (added: number) => (addedTarget === undefined ? null : { text: `<= ${addedTarget} ms`, met: added <= addedTarget });
    for (const name of ["task API SSE", "OpenAI stream"]) {
      const ttft = med(name, "ttftP50");
      const pace = med(name, "tokensPerSecond");
      const paceTarget = streams === PACE_TARGET.streams ? { text: `>= ${PACE_TARGET.ratio}x direct`, met: pace >= PACE_TARGET.ratio * direct.pace } : null;
      rows.push(row("4. streaming", `${name}: TTFT p50, ${streams} streams`, "ms", ttft, direct.ttft));
      rows.push(
        row("4. streaming", `${name}: added TTFT p50 (llmq - direct), ${streams} streams`, "ms", ttft - direct.ttft, null, addedTtftTarget(ttft - direct.ttft)),
      );
      rows.push(row("4. streaming", `${name}: tokens/s per stream, ${streams} streams`, "tok/s", pace, direct.pace, paceTarget));
      rows.push(row("4. streaming", `${name}: inter-token gap p99, ${streams} streams`, "ms", med(name, "gapP99"), direct.gap));
    }
    const floorAdded = med("design floor", "ttftP50") - direct.ttft;
    rows.push(row("4. streaming", `design floor (DESIGN.md's required steps for a stream, bare clients): added TTFT p50, ${streams} streams`, "ms", floorAdded, null, addedTtftTarget(floorAdded)));
    for (const name of ["task API SSE", "OpenAI stream"]) {
      rows.push(row("4. streaming", `${name}: added TTFT p50, ${streams} streams (baseline: the design floor's)`, "ms", med(name, "ttftP50") - direct.ttft, floorAdded));
    }
  }
  return rows;
}
