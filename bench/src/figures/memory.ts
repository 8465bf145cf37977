import http from "node:http";
import type { BenchConfig } from "../config";
import { requestJson } from "../http-client";
import { type Row, row } from "../report";
import { IDLE_MODEL, type BenchStack, queueOf } from "../stack";
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

/** The API's RSS, median of samples over `ms`: a garbage collection in between moves one sample, not the figure. */
async function sampledRss(stack: BenchStack, ms: number): Promise<number> {
  const samples: number[] = [];
  for (const end = Date.now() + ms; Date.now() < end; ) {
    samples.push(stack.api.rssBytes());
    await sleep(100);
  }
  return median(samples);
}

/** Opens `count` streams on `url`, 100 at a time. */
async function openStreams(urls: (i: number) => string, count: number, key: string, agent: http.Agent, into: http.ClientRequest[]): Promise<void> {
  for (let start = 0; start < count; start += 100) {
    const size = Math.min(100, count - start);
    into.push(...(await Promise.all(Array.from({ length: size }, (_, i) => openStream(urls(start + i), key, agent)))));
  }
}

/**
 * Memory per open stream on ONE waiting task (one API key opening thousands of streams on a pending
 * task: the case issue 13 measured at ~67 KiB of RSS): what the second half of the streams added to
 * the API's RSS and heap, each read right after two full garbage collections, so neither what the
 * first streams cost once (heap growth, pools, compiled code) nor when V8 last collected counts.
 */
async function perStreamOnOneTask(stack: BenchStack, streams: number): Promise<{ rssKiB: number; heapKiB: number }> {
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
    await sleep(1_000);
    const atHalf = await stack.apiMemoryAfterGc();
    await openStreams(() => url, streams - half, stack.adminKey, agent, open);
    await sleep(1_000);
    const atAll = await stack.apiMemoryAfterGc();
    const kib = (field: "rss" | "heapUsed") => (atAll[field] - atHalf[field]) / 1024 / (streams - half);
    return { rssKiB: kib("rss"), heapKiB: kib("heapUsed") };
  } finally {
    for (const req of open) req.destroy();
    agent.destroy();
  }
}

/** Figure 6: RSS of the API process with N SSE streams open on waiting tasks, against its RSS just before. */
export async function benchMemory(stack: BenchStack, config: BenchConfig): Promise<Row[]> {
  const streams = config.sseStreams;
  // First, while the process has held no streams yet: RSS that earlier streams grew is not given back at once.
  const oneTask = await perStreamOnOneTask(stack, streams);
  await sleep(1_000);
  const created = await requestJson<{ data: { data: { task_ids: string[] } } }>(`${stack.apiUrl}/v1/ai/batches`, {
    key: stack.adminKey,
    body: { requests: Array.from({ length: streams }, (_, i) => ({ messages: [{ role: "user", content: `wait ${i}` }], configs: { model: IDLE_MODEL, max_tokens: 16, top_k: 10, top_p: 0.9, temperature: 0 } })) },
  });
  const before = await sampledRss(stack, 2_000);
  const agent = new http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
  const open: http.ClientRequest[] = [];
  try {
    for (let start = 0; start < streams; start += 100) {
      const ids = created.data.data.task_ids.slice(start, start + 100);
      open.push(...(await Promise.all(ids.map((id) => openStream(`${stack.apiUrl}/v1/ai/tasks/${id}/events`, stack.adminKey, agent)))));
    }
    const during = await sampledRss(stack, 3_000);
    const mb = (bytes: number) => bytes / 2 ** 20;
    return [
      row("6. memory", `API RSS with ${streams.toLocaleString("en")} open SSE streams (baseline: same process just before)`, "MiB", mb(during), mb(before)),
      row("6. memory", "RSS per open stream", "KiB", (during - before) / 1024 / streams, null),
      row("6. memory", `RSS per open stream, ${streams.toLocaleString("en")} streams on one waiting task (added by the second half, after a full GC)`, "KiB", oneTask.rssKiB, null, { text: "<= 20 KiB", met: oneTask.rssKiB <= 20 }),
      row("6. memory", "heap per open stream, same streams (after a full GC)", "KiB", oneTask.heapKiB, null),
    ];
  } finally {
    for (const req of open) req.destroy();
    agent.destroy();
    await retireWaiting(stack, IDLE_MODEL, queueOf(IDLE_MODEL));
  }
}
