import http from "node:http";
import type { BenchConfig } from "../config";
import { requestJson } from "../http-client";
import { type Row, row } from "../report";
import { type ApiMemory, type BenchStack, IDLE_MODEL, queueOf } from "../stack";
import { median, sleep } from "../stats";
import { retireWaiting } from "./cleanup";

/**
 * Opens an SSE stream and resolves once its headers arrived: the route subscribed. (A batch item has no
 * event yet while it waits, so the first bytes would be the heartbeat, 15 s later.)
 */
function openStream(url: string, key: string, agent: http.Agent): Promise<http.ClientRequest> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers: { authorization: `Bearer ${key}`, accept: "text/event-stream" } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`${url} answered ${res.statusCode}`));
      res.resume();
      res.on("error", () => undefined);
      resolve(req);
    });
    req.on("error", reject);
  });
}

/**
 * The API's memory for the first reading of a difference: one memory-reducing GC, a second later the
 * reading (after its own). The first such GC in a process gives pages back for a while after it
 * returns (V8 unmaps the young generation's surplus pages in the background): a reading right after it
 * would count that as memory the next streams freed. Every later reading follows an earlier one alike.
 */
async function settledMemory(stack: BenchStack): Promise<ApiMemory> {
  await sleep(1_000);
  await stack.apiMemoryAfterGc();
  await sleep(1_000);
  return stack.apiMemoryAfterGc();
}

/** Opens `count` streams on `url`, 100 at a time. */
async function openStreams(urls: (i: number) => string, count: number, key: string, agent: http.Agent, into: http.ClientRequest[]): Promise<void> {
  for (let start = 0; start < count; start += 100) {
    const size = Math.min(100, count - start);
    into.push(...(await Promise.all(Array.from({ length: size }, (_, i) => openStream(urls(start + i), key, agent)))));
  }
}

/** Streams opened on the one task before the first reading, and readings after it (each after as many more streams). */
const STEPS = 5;

/**
 * Memory per open stream on ONE waiting task (one API key opening thousands of streams on a pending
 * task: the case issue 13 measured at ~67 KiB of RSS). Half the streams are opened first (what the first
 * streams cost once, heap growth, pools, compiled code, does not count); then the other half in STEPS
 * equal steps, the API's memory read before the first and after each, every reading right after a
 * memory-reducing full GC in each API process (bench/src/gc-signal.cjs: the young generation at its
 * minimum in every reading). Per stream: what the whole second half added over the streams it added.
 * The steps are in the notes, with their median: growth that comes in chunks (an allocator arena, V8
 * pages) lands in one step, so a median of steps would leave out a cost the streams really have.
 */
async function perStreamOnOneTask(stack: BenchStack, streams: number, notes: string[]): Promise<{ rssKiB: number; heapKiB: number }> {
  const submitted = await requestJson<{ data: { data: { task_id: string } } }>(`${stack.apiUrl}/v1/ai/text_completion?async=true`, {
    key: stack.adminKey,
    body: { messages: [{ role: "user", content: "wait" }], configs: { model: IDLE_MODEL, max_tokens: 16 } },
  });
  const url = `${stack.apiUrl}/v1/ai/tasks/${submitted.data.data.task_id}/events`;
  const agent = new http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
  const open: http.ClientRequest[] = [];
  const half = Math.floor(streams / 2);
  try {
    await openStreams(() => url, half, stack.adminKey, agent, open);
    const readings = [await settledMemory(stack)];
    for (let step = 0; step < STEPS; step++) {
      const size = Math.floor((streams - half) / STEPS) + (step < (streams - half) % STEPS ? 1 : 0);
      await openStreams(() => url, size, stack.adminKey, agent, open);
      await sleep(1_000);
      readings.push(await stack.apiMemoryAfterGc());
    }
    const kib = (of: (memory: ApiMemory) => number) =>
      readings.slice(1).map((after, i) => {
        const added = Math.floor((streams - half) / STEPS) + (i < (streams - half) % STEPS ? 1 : 0);
        return (of(after) - of(readings[i]!)) / 1024 / added;
      });
    const rss = kib((memory) => memory.rss);
    const heap = kib((memory) => memory.heapUsed);
    const whole = (of: (memory: ApiMemory) => number) => (of(readings.at(-1)!) - of(readings[0]!)) / 1024 / (streams - half);
    const list = (values: number[]) => values.map((value) => value.toFixed(1)).join(", ");
    notes.push(
      `6. memory per open stream on one task, each of the ${STEPS} steps of ${Math.floor((streams - half) / STEPS)} streams (KiB per stream): RSS ${list(rss)}; heap ${list(heap)}; ` +
        `median of the steps ${median(rss).toFixed(1)} KiB of RSS and ${median(heap).toFixed(1)} KiB of heap per stream; ` +
        `the young generation's resident size in the readings ${list(readings.map((memory) => memory.newSpace / 2 ** 20))} MiB; ` +
        `API RSS at the first and last reading ${list([readings[0]!.rss / 2 ** 20, readings.at(-1)!.rss / 2 ** 20])} MiB (${readings[0]!.processes.length} Node processes).`,
    );
    return { rssKiB: whole((memory) => memory.rss), heapKiB: whole((memory) => memory.heapUsed) };
  } finally {
    for (const req of open) req.destroy();
    agent.destroy();
  }
}

/** Figure 6: RSS of the API process with N SSE streams open on waiting tasks, against its RSS just before. */
export async function benchMemory(stack: BenchStack, config: BenchConfig, notes: string[]): Promise<Row[]> {
  const streams = config.sseStreams;
  // First, while the process has held no streams yet: RSS that earlier streams grew is not given back at once.
  const oneTask = await perStreamOnOneTask(stack, streams, notes);
  await sleep(1_000);
  const created = await requestJson<{ data: { data: { task_ids: string[] } } }>(`${stack.apiUrl}/v1/ai/batches`, {
    key: stack.adminKey,
    body: { requests: Array.from({ length: streams }, (_, i) => ({ messages: [{ role: "user", content: `wait ${i}` }], configs: { model: IDLE_MODEL, max_tokens: 16, top_k: 10, top_p: 0.9, temperature: 0 } })) },
  });
  const before = (await settledMemory(stack)).rss;
  const agent = new http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
  const open: http.ClientRequest[] = [];
  try {
    for (let start = 0; start < streams; start += 100) {
      const ids = created.data.data.task_ids.slice(start, start + 100);
      open.push(...(await Promise.all(ids.map((id) => openStream(`${stack.apiUrl}/v1/ai/tasks/${id}/events`, stack.adminKey, agent)))));
    }
    await sleep(1_000);
    const during = (await stack.apiMemoryAfterGc()).rss;
    const mb = (bytes: number) => bytes / 2 ** 20;
    return [
      row("6. memory", `API RSS with ${streams.toLocaleString("en")} open SSE streams on as many waiting tasks (baseline: same process just before; both after a memory-reducing full GC)`, "MiB", mb(during), mb(before)),
      row("6. memory", "RSS per open stream, one per task", "KiB", (during - before) / 1024 / streams, null),
      row("6. memory", `RSS per open stream, ${streams.toLocaleString("en")} streams on one waiting task (added by the second half, over all of it; each reading after a memory-reducing full GC)`, "KiB", oneTask.rssKiB, null, { text: "<= 20 KiB", met: oneTask.rssKiB <= 20 }),
      row("6. memory", "heap per open stream, same streams and readings", "KiB", oneTask.heapKiB, null),
    ];
  } finally {
    for (const req of open) req.destroy();
    agent.destroy();
    await retireWaiting(stack, IDLE_MODEL, queueOf(IDLE_MODEL));
  }
}
