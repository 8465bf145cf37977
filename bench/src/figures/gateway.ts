import http from "node:http";
import type { BenchConfig } from "../config";
import { requestJson } from "../http-client";
import { startFloor } from "../floor";
import { type Service, freePort, startService, waitForOutput } from "../processes";
import { type Row, row } from "../report";
import { type BenchStack, UPSTREAM_MODEL } from "../stack";
import { median, quantile, round, sleep } from "../stats";
import { deleteBaselineRows } from "./cleanup";

/**
 * Figures 8 and 9: what the service adds to a non-stream chat completion, next to another gateway on the
 * same upstream. Three paths to the same fixture upstream (which answers a non-stream request at once):
 * direct; through llmq (`POST /v1/chat/completions`, a user's key: submit, queue, worker, upstream, answer);
 * through the Portkey gateway (`@portkey-ai/gateway`, pinned in bench/package.json, run locally, headless,
 * `x-portkey-provider: openai` + `x-portkey-custom-host`: a pass-through proxy). Added latency = a path's
 * latency quantile less the direct path's, measured in the same rounds.
 *
 * A fourth path is the design's floor (`bench/src/floor-main.ts`): the steps DESIGN.md's rules require of
 * a waited completion (the row committed before its job, a worker process calling the upstream, the
 * completion committed before the answer, the start folded into it), done with bare clients and none of the product (no
 * auth, schema, limits, fair dispatch, event stream). What it adds is what any service keeping those rules
 * adds on this machine; llmq's added latency is read against it as well as against Portkey's.
 */

// The marker makes the fixture answer at once (no pause between tokens) whether asked to stream (as llmq's
// worker does) or not (as the direct path and Portkey do): the same upstream work on every path.
const BODY = JSON.stringify({ model: UPSTREAM_MODEL, messages: [{ role: "user", content: "[[fixture:tokenDelayMs=0]] What is a queue?" }], max_tokens: 16 });
const agent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });

interface Target {
  url: string;
  headers: Record<string, string>;
}

interface Answer {
  ms: number;
  /** x-llmq-overhead-ms, when the answer carried it. */
  overheadMs: number | null;
}

/** One POST of the completion; resolves with its latency once the whole answer is read. */
function post(target: Target): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = http.request(target.url, { method: "POST", agent, headers: { ...target.headers, "content-type": "application/json", "content-length": Buffer.byteLength(BODY) } }, (res) => {
      res.resume();
      res.on("end", () => {
        if (res.statusCode !== 200) return reject(new Error(`${target.url} answered ${res.statusCode}`));
        const overhead = res.headers["x-llmq-overhead-ms"];
        resolve({ ms: performance.now() - started, overheadMs: typeof overhead === "string" ? Number(overhead) : null });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(BODY);
  });
}

interface Paths {
  direct: Target;
  llmq: Target;
  portkey: Target;
  floor: Target;
}

/** A user's key (a real client's key is resolved, not the admin's), and Portkey started on the fixture. */
async function paths(stack: BenchStack): Promise<{ paths: Paths; services: Service[] }> {
  const created = await requestJson<{ data: { data: { key: string } } }>(`${stack.apiUrl}/v1/admin/keys`, { key: stack.adminKey, body: { name: `bench-gateway-${Date.now()}` } });
  const port = await freePort();
  // `build/start-server.js --port=N --headless` (its port is an argument, not an environment variable).
  const portkey = startService("portkey", "node_modules/@portkey-ai/gateway/build/start-server.js", {}, [], [`--port=${port}`, "--headless"]);
  await waitForOutput(portkey, "Ready for connections");
  const floor = await startFloor(stack);
  return {
    services: [portkey, ...floor.services],
    paths: {
      floor: { url: `${floor.url}/v1/chat/completions`, headers: {} },
      direct: { url: `${stack.fixtureUrl}/chat/completions`, headers: { authorization: "Bearer bench" } },
      llmq: { url: `${stack.apiUrl}/v1/chat/completions`, headers: { authorization: `Bearer ${created.data.data.key}` } },
      portkey: {
        url: `http://127.0.0.1:${port}/v1/chat/completions`,
        headers: { authorization: "Bearer bench", "x-portkey-provider": "openai", "x-portkey-custom-host": stack.fixtureUrl },
      },
    },
  };
}

/** Figure 8: sequential completions (concurrency 1), the four paths in turn each round. */
export async function benchGateway(stack: BenchStack, config: BenchConfig, notes: string[]): Promise<Row[]> {
  const { paths: p, services } = await paths(stack);
  try {
    const times: Record<keyof Paths, number[]> = { direct: [], llmq: [], portkey: [], floor: [] };
    const overheads: number[] = [];
    const warmup = Math.ceil(config.gatewayRequests / 10);
    for (let i = -warmup; i < config.gatewayRequests; i++) {
      for (const name of ["direct", "llmq", "portkey", "floor"] as const) {
        const answer = await post(p[name]);
        if (i < 0) continue;
        times[name].push(answer.ms);
        if (name === "llmq" && answer.overheadMs !== null) overheads.push(answer.overheadMs);
      }
    }
    const q = (name: keyof Paths, at: number) => quantile(times[name], at);
    const added = (name: keyof Paths, at: number) => q(name, at) - q("direct", at);
    /** Figure 8's target, for llmq and for the design floor (whether DESIGN.md's rules can meet it on this machine at all). */
    const withinPortkey = (name: keyof Paths) => ({ text: "<= Portkey's added latency", met: added(name, 0.5) <= added("portkey", 0.5) });
    notes.push(
      `8. gateway: latency p50 / p99 at concurrency 1, ${config.gatewayRequests} requests per path: direct ${round(q("direct", 0.5))} / ${round(q("direct", 0.99))} ms, llmq ${round(q("llmq", 0.5))} / ${round(q("llmq", 0.99))} ms, Portkey ${round(q("portkey", 0.5))} / ${round(q("portkey", 0.99))} ms (@portkey-ai/gateway, pinned in bench/package.json), the design floor ${round(q("floor", 0.5))} / ${round(q("floor", 0.99))} ms (bench/src/floor-main.ts: INSERT commit, LPUSH, a runner process's BRPOP, the upstream request, one UPDATE starting and completing the task, PUBLISH; nothing else).`,
    );
    return [
      row("8. gateway", "non-stream chat completion added latency p50 (path - direct), concurrency 1 (baseline: Portkey gateway's)", "ms", added("llmq", 0.5), added("portkey", 0.5), withinPortkey("llmq")),
      row("8. gateway", "added latency p99, concurrency 1 (baseline: Portkey gateway's)", "ms", added("llmq", 0.99), added("portkey", 0.99)),
      row("8. gateway", "x-llmq-overhead-ms p50 (time in llmq outside the upstream call)", "ms", median(overheads), null),
      row("8. gateway", "design floor's added latency p50: DESIGN.md's required commits, round trips and worker hop with bare clients (baseline: Portkey gateway's)", "ms", added("floor", 0.5), added("portkey", 0.5), withinPortkey("floor")),
      row("8. gateway", "llmq's added latency p50 (baseline: the design floor's)", "ms", added("llmq", 0.5), added("floor", 0.5)),
    ];
  } finally {
    for (const service of services) await service.stop();
    await deleteBaselineRows(stack);
  }
}

/** Latencies of requests sent at `rate` per second for `seconds` (open loop: sent on schedule, whatever the answers). */
async function openLoop(target: Target, rate: number, seconds: number): Promise<{ latencies: number[]; failed: number; lateMs: number }> {
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const started = performance.now();
  const pending: Promise<void>[] = [];
  const latencies: number[] = [];
  let failed = 0;
  let lateMs = 0;
  for (let i = 0; i < total; i++) {
    const due = started + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    lateMs = Math.max(lateMs, performance.now() - due);
    pending.push(post(target).then((answer) => void latencies.push(answer.ms), () => void (failed += 1)));
  }
  await Promise.all(pending);
  return { latencies, failed, lateMs };
}

/**
 * Figure 9, the latency frontier: llmq's added p99 (llmq p99 - direct p99 at the same rate) at
 * concurrency 1, and the highest request rate, of those tried in increasing order, at which the added
 * p99 stays under 10 ms (the search stops at the first rate that misses, or that fails requests).
 */
export async function benchFrontier(stack: BenchStack, config: BenchConfig, notes: string[]): Promise<Row[]> {
  const created = await requestJson<{ data: { data: { key: string } } }>(`${stack.apiUrl}/v1/admin/keys`, { key: stack.adminKey, body: { name: `bench-frontier-${Date.now()}` } });
  const direct: Target = { url: `${stack.fixtureUrl}/chat/completions`, headers: { authorization: "Bearer bench" } };
  const llmq: Target = { url: `${stack.apiUrl}/v1/chat/completions`, headers: { authorization: `Bearer ${created.data.data.key}` } };
  const started = await startFloor(stack);
  const floor: Target = { url: `${started.url}/v1/chat/completions`, headers: {} };
  try {
    const serial = { direct: [] as number[], llmq: [] as number[], floor: [] as number[] };
    for (let i = -50; i < config.gatewayRequests; i++) {
      const d = await post(direct);
      const l = await post(llmq);
      const f = await post(floor);
      if (i >= 0) serial.direct.push(d.ms), serial.llmq.push(l.ms), serial.floor.push(f.ms);
    }
    const serialAdded = (path: "llmq" | "floor") => quantile(serial[path], 0.99) - quantile(serial.direct, 0.99);

    /** The highest rate, in increasing order, whose added p99 stays under 10 ms (stops at the first miss or failure). */
    const frontier = async (target: Target) => {
      let best = 0;
      const tried: string[] = [];
      for (const rate of config.frontierRates) {
        const base = await openLoop(direct, rate, config.frontierSeconds);
        const through = await openLoop(target, rate, config.frontierSeconds);
        const addedP99 = quantile(through.latencies, 0.99) - quantile(base.latencies, 0.99);
        tried.push(`${rate}/s: added p99 ${round(addedP99)} ms (p50 ${round(median(through.latencies))}, p99 ${round(quantile(through.latencies, 0.99))}; direct p99 ${round(quantile(base.latencies, 0.99))}${through.failed ? `; ${through.failed} failed` : ""}${through.lateMs > 5 ? `; the load generator fell ${round(through.lateMs)} ms behind` : ""})`);
        if (through.failed > 0 || addedP99 >= 10) break;
        best = rate;
      }
      return { best, tried };
    };
    const ours = await frontier(llmq);
    const floors = await frontier(floor);
    notes.push(`9. frontier, ${config.frontierSeconds} s per rate and path: llmq ${ours.tried.join("; ")}. The design floor (figure 8's) ${floors.tried.join("; ")}.`);
    return [
      row("9. frontier", "added p99 at concurrency 1 (llmq p99 - direct p99, non-stream chat completion) (baseline: the design floor's)", "ms", serialAdded("llmq"), serialAdded("floor")),
      row("9. frontier", `highest request rate with added p99 < 10 ms (tried ${config.frontierRates.join(", ")}/s) (baseline: the design floor's)`, "req/s", ours.best, floors.best),
    ];
  } finally {
    for (const service of started.services) await service.stop();
    await deleteBaselineRows(stack);
  }
}
