import { type ChildProcess, spawn } from "node:child_process";
import { gzipSync } from "node:zlib";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type ServiceProcess, createTestDatabase, freePort, spawnService, testRedisUrl, uniquePrefix } from "@llmq/testkit";
import { Client } from "pg";
import YAML from "yaml";

// Bodies built to cost the API as much as possible, sent to the real API process (its event loop is its
// own, so /healthz measured from here shows whether it stalls): it must stay responsive, answer a small 400
// in the caller's dialect, and log small lines carrying codes and field paths, not the caller's values.
const ADMIN_KEY = `admin_${uniquePrefix()}_0123456789abcdef`;
/** Largest answer and log line a hostile request may cause (the issue saw 964 KB answers and 530 MB lines). */
const SMALL = 4 * 1024;
/**
 * How much longer /healthz may take, while a hostile request is processed, than an idle control server
 * answers at the same moment: the control absorbs what the machine's load alone costs (on a shared 2-core
 * machine any process may wait for a core), so what remains is the API's own stall.
 */
const RESPONSIVE_MS = 100;
/**
 * Longest the API's own event loop may be held while a batch body is read, beyond what the control's own
 * loop was held over the same time: the worst delay of a 10 ms timer in each (the API's monitor is
 * `nodejs_eventloop_lag_max_seconds` on its /metrics; the control runs the same monitor). Unlike the
 * /healthz probe it does not depend on when a probe happens to land, so it catches a stall of a few tens
 * of milliseconds (copying or inflating 64 MB in one go); the control's share is what the machine's load
 * alone costs a process that serves the same probes.
 */
const API_STALL_MS = 40;
/**
 * Most CPU time the API's main thread may spend while a 64 MB gzip bomb is read and refused. Inflating it
 * there (zlib's callbacks per 16 KB, joining 64 MB, collecting the pieces) cost 80-140 ms; taking in
 * 170 KB and answering costs 0-10 (up to 40 with both cores busy: the parser thread, below the event loop's
 * priority, takes longer, and the API's timers run meanwhile). Unlike a delay it does not count the time
 * the thread waits for a core.
 */
const BOMB_MAIN_THREAD_CPU_MS = 60;

let database: { url: string; drop: () => Promise<void> };
let dir: string;
let api: ServiceProcess;
let url: string;
let control: ChildProcess;
let controlUrl: string;

beforeAll(async () => {
  database = await createTestDatabase();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "llmq-hostile-"));
  const modelsFile = path.join(dir, "models.yaml");
  fs.writeFileSync(modelsFile, YAML.stringify({ providers: { fast: { type: "simulated" } }, models: [{ id: "gemma-7b", provider: "fast", concurrency: 4 }] }));
  const port = await freePort();
  api = await spawnService(
    "apps/api/src/main.ts",
    {
      DATABASE_URL: database.url,
      REDIS_URL: testRedisUrl(),
      REDIS_PREFIX: uniquePrefix(),
      MODELS_FILE: modelsFile,
      ADMIN_API_KEY: ADMIN_KEY,
      AUTH_JWT_SECRET: `jwt_${uniquePrefix()}_0123456789abcdef0123456789abcdef`,
      PORT: String(port),
      LOG_LEVEL: "info",
      // One process: a second would answer /healthz while the first is busy, and hide a stall.
      API_PROCESSES: "1",
      // Express's default error page shows a stack trace only outside production: make it want to.
      NODE_ENV: "development",
    },
    /"msg":"api listening"/,
  );
  url = `http://127.0.0.1:${port}`;
  // A do-nothing HTTP server in a process of its own: the yardstick of what the machine's load costs.
  // It watches its own event loop as the API's /metrics does (`/lag`: the worst delay since the last ask, in ms).
  const script = [
    'const lag=require("perf_hooks").monitorEventLoopDelay({resolution:10});lag.enable();',
    'const s=require("http").createServer((q,r)=>{if(q.url==="/lag"){r.end(String(lag.max/1e6));lag.reset();}else r.end("ok");});',
    's.listen(0,"127.0.0.1",()=>console.log(s.address().port));',
  ].join("");
  control = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  const controlPort = await new Promise<string>((resolve) => control.stdout!.once("data", (chunk: Buffer) => resolve(chunk.toString().trim())));
  controlUrl = `http://127.0.0.1:${controlPort}`;
}, 60_000);

afterAll(async () => {
  control?.kill();
  await api?.stop();
  await database?.drop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

interface Sent {
  status: number;
  text: string;
  body: any;
  /** Most that a /healthz answer took beyond the control server's answer asked at the same moment, while the request was in flight. */
  slowestHealthzMs: number;
  healthChecks: number;
  /** The API's own longest event-loop delay while the request was handled (its /metrics) beyond the control's over the same time, in ms. */
  apiStallMs: number;
  /** The API's log lines written while it was handled. */
  logLines: string[];
}

/** Milliseconds one GET of `target` takes. */
async function timedGet(target: string): Promise<number> {
  const started = performance.now();
  await (await fetch(target)).text();
  return performance.now() - started;
}

/** CPU time (user + system, ms) the API's main thread has used so far (Linux: its /proc stat, in 10 ms ticks). */
function apiMainThreadCpuMs(): number {
  const pid = api.child.pid!;
  const fields = fs.readFileSync(`/proc/${pid}/task/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The API's and the control's longest event-loop delays since the last read, in ms (each monitor is reset when read). */
async function eventLoopMaxMs(): Promise<{ api: number; control: number }> {
  const [metrics, control] = await Promise.all([
    fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } }).then((res) => res.text()),
    fetch(`${controlUrl}/lag`).then((res) => res.text()),
  ]);
  const line = metrics.split("\n").find((l) => l.startsWith("nodejs_eventloop_lag_max_seconds"));
  if (!line) throw new Error("no nodejs_eventloop_lag_max_seconds on /metrics");
  return { api: Number(line.split(" ").pop()) * 1000, control: Number(control) };
}

/** Sends one request while asking /healthz (and the control server, at the same moment) every 10 ms, and collects the log lines it caused. */
async function sendWatching(pathname: string, body: Buffer | string, headers: Record<string, string>): Promise<Sent> {
  await eventLoopMaxMs();
  let inFlight = true;
  let slowest = 0;
  let checks = 0;
  const watcher = (async () => {
    while (inFlight) {
      const [apiMs, controlMs] = await Promise.all([timedGet(`${url}/healthz`), timedGet(controlUrl)]);
      slowest = Math.max(slowest, apiMs - controlMs);
      checks += 1;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  try {
    const res = await fetch(url + pathname, { method: "POST", headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json", ...headers }, body });
    const text = await res.text();
    const loops = await eventLoopMaxMs();
    const apiStallMs = loops.api - loops.control;
    return { status: res.status, text, body: text.startsWith("{") ? JSON.parse(text) : null, slowestHealthzMs: slowest, healthChecks: checks, apiStallMs, logLines: [] };
  } finally {
    inFlight = false;
    await watcher;
  }
}

/** The log lines written since `from`, once the request's own access line is in. */
async function logLinesSince(from: number): Promise<string[]> {
  for (let i = 0; i < 100 && !api.output().slice(from).includes('"reqId"'); i++) await new Promise((resolve) => setTimeout(resolve, 20));
  return api.output().slice(from).split("\n").filter(Boolean);
}

function expectSmallError(sent: Sent, status: number) {
  expect(sent.status).toBe(status);
  expect(sent.text.length).toBeLessThan(SMALL);
  expect(sent.text).not.toMatch(/\bat \S+ \(\S+:\d+:\d+\)|\.[cm]?[tj]s:\d+|node_modules|<html|<pre>/i);
}

/** `count` copies of `item` as a JSON array's elements, built without a giant intermediate object. */
function repeated(item: string, count: number): string {
  return Array.from({ length: count }, () => item).join(",");
}

async function gzipped(pathname: string, json: string): Promise<Sent> {
  const compressed = gzipSync(json, { level: 9 });
  const from = api.output().length;
  const sent = await sendWatching(pathname, compressed, { "content-encoding": "gzip" });
  sent.logLines = await logLinesSince(from);
  return sent;
}

describe("a hostile body", () => {
  it("compressed to ~170 KB and expanding to the 64 MB batch limit (50,000 requests of 31 bad messages) stalls nothing and gets a short 400", async () => {
    const item = `{"messages":[${repeated('{"role":1,"content":null,"extra":true}', 31)}],"configs":{"model":"gemma-7b","top_k":"x"}}`;
    const json = `{"requests":[${repeated(item, 50_000)}]}`;
    expect(json.length).toBeGreaterThan(60 * 1024 * 1024);
    const sent = await gzipped("/v1/ai/batches", json);
    expectSmallError(sent, 400);
    expect(sent.body).toMatchObject({ status: "error", errors: [{ code: "invalid_request", param: "requests.0.messages.0.role" }] });
    expect(sent.body.errors[0].message).toMatch(/\(and [\d,]+ more problems\)$/);
    expect(sent.healthChecks).toBeGreaterThan(0);
    expect(sent.slowestHealthzMs).toBeLessThan(RESPONSIVE_MS);
    expect(sent.apiStallMs).toBeLessThan(API_STALL_MS);
    for (const line of sent.logLines) expect(line.length).toBeLessThan(SMALL);
    // The warning names the code and the field, not what the caller sent.
    const warning = sent.logLines.find((line) => line.includes('"code":"invalid_request"'));
    expect(warning).toContain('"param":"requests.0.messages.0.role"');
    expect(warning).not.toContain("extra");
  }, 120_000);

  it("compressed to ~170 KB and expanding to 64 MB costs the API's main thread only what taking in 170 KB and answering costs: it is inflated in the parser thread", async () => {
    const item = `{"messages":[${repeated('{"role":1,"content":null,"extra":true}', 31)}],"configs":{"model":"gemma-7b","top_k":"x"}}`;
    const compressed = gzipSync(`{"requests":[${repeated(item, 50_000)}]}`, { level: 9 });
    // Nothing else asks the API meanwhile (no /healthz probes): the main thread's CPU time is this request's.
    const before = apiMainThreadCpuMs();
    const res = await fetch(`${url}/v1/ai/batches`, { method: "POST", headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json", "content-encoding": "gzip" }, body: compressed });
    const body = (await res.json()) as { errors: { param: string }[] };
    const cpuMs = apiMainThreadCpuMs() - before;
    expect([res.status, body.errors[0]?.param]).toEqual([400, "requests.0.messages.0.role"]);
    expect(cpuMs).toBeLessThan(BOMB_MAIN_THREAD_CPU_MS);
  }, 120_000);

  it("of 49,999 good requests and one bad last one is read off the event loop: /healthz stays fast, the 400 names the last", async () => {
    const good = '{"messages":[{"role":"user","content":"Summarise this item in one sentence, please."}],"configs":{"model":"gemma-7b","max_tokens":16}}';
    const json = `{"requests":[${repeated(good, 49_999)},{"messages":[{"role":"user","content":"last"}],"configs":{"model":"gemma-7b","max_tokens":-1}}]}`;
    const sent = await gzipped("/v1/ai/batches", json);
    expectSmallError(sent, 400);
    expect(sent.body.errors[0].param).toBe("requests.49999.configs.max_tokens");
    expect(sent.slowestHealthzMs).toBeLessThan(RESPONSIVE_MS);
    const pg = new Client({ connectionString: database.url });
    await pg.connect();
    try {
      expect(Number((await pg.query("SELECT count(*) AS n FROM tasks")).rows[0].n)).toBe(0);
      expect(Number((await pg.query("SELECT count(*) AS n FROM batches")).rows[0].n)).toBe(0);
    } finally {
      await pg.end();
    }
  }, 120_000);

  it("with more requests than a batch may hold is refused before any request is looked at", async () => {
    const sent = await gzipped("/v1/ai/batches", `{"requests":[${repeated('{"messages":[{"role":1}]}', 300_000)}]}`);
    expectSmallError(sent, 400);
    expect(sent.body.errors[0]).toMatchObject({ param: "requests" });
    expect(sent.body.errors[0].message).toMatch(/50000|50,000/);
    expect(sent.slowestHealthzMs).toBeLessThan(RESPONSIVE_MS);
  }, 120_000);

  it("compressed and expanding past the batch limit is stopped at the limit: 413 naming BATCH_BODY_LIMIT, nothing stalls", async () => {
    // 96 MB of one repeated request: the decoder must stop at 64 MB, not inflate the rest.
    const good = '{"messages":[{"role":"user","content":"Summarise this item in one sentence, please."}],"configs":{"model":"gemma-7b","max_tokens":16}}';
    const json = `{"requests":[${repeated(good, Math.floor((96 * 1024 * 1024) / good.length))}]}`;
    const sent = await gzipped("/v1/ai/batches", json);
    expectSmallError(sent, 413);
    expect(sent.body.errors[0]).toMatchObject({ code: "payload_too_large", param: "body" });
    expect(sent.body.errors[0].message).toContain("BATCH_BODY_LIMIT");
    expect(sent.body.errors[0].message).toContain("counted after decompression");
    expect(sent.slowestHealthzMs).toBeLessThan(RESPONSIVE_MS);
    expect(sent.apiStallMs).toBeLessThan(API_STALL_MS);
  }, 120_000);

  it("of 2,048 bad messages (88 KB) to text_completion gets a short 400 and short log lines", async () => {
    const json = `{"messages":[${repeated('{"role":"nobody","content":7,"mood":"x"}', 2048)}]}`;
    const from = api.output().length;
    const sent = await sendWatching("/v1/ai/text_completion", json, {});
    sent.logLines = await logLinesSince(from);
    expectSmallError(sent, 400);
    expect(sent.body.errors[0].param).toBe("messages.0.role");
    expect(sent.body.errors[0].message).toMatch(/\(and [\d,]+ more problems\)$/);
    for (const line of sent.logLines) expect(line.length).toBeLessThan(SMALL);
  });

  it("with 20,000 unknown keys of 40 characters gets a short 400 in the OpenAI dialect", async () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `"key_${i}_${"x".repeat(32)}":1`).join(",");
    const from = api.output().length;
    const sent = await sendWatching("/v1/chat/completions", `{"model":"gemma-7b","messages":[{"role":"user","content":"hi"}],${keys}}`, {});
    sent.logLines = await logLinesSince(from);
    expectSmallError(sent, 400);
    expect(sent.body.error).toMatchObject({ type: "invalid_request_error", code: "invalid_request" });
    expect(sent.body.error.param.length).toBeLessThan(128);
    for (const line of sent.logLines) expect(line.length).toBeLessThan(SMALL);
  });

  it("that decompresses past the body limit is refused with 413, counted after decompression", async () => {
    const json = JSON.stringify({ messages: [{ role: "user", content: "a".repeat(2 * 1024 * 1024) }] });
    const sent = await gzipped("/v1/ai/text_completion", json);
    expectSmallError(sent, 413);
    expect(sent.body.errors[0]).toMatchObject({ code: "payload_too_large", param: "body" });
  });

  it("marked gzip that is not gzip is a 400 naming the body, in both dialects", async () => {
    const flex = await sendWatching("/v1/ai/text_completion", '{"messages":[{"role":"user","content":"hi"}]}', { "content-encoding": "gzip" });
    expectSmallError(flex, 400);
    expect(flex.body.errors[0]).toMatchObject({ code: "invalid_content_encoding", param: "body" });
    const openai = await sendWatching("/v1/chat/completions", "not gzip at all", { "content-encoding": "gzip" });
    expectSmallError(openai, 400);
    expect(openai.body.error).toMatchObject({ code: "invalid_content_encoding", param: "body" });
    const batch = await sendWatching("/v1/ai/batches", "\x1f\x8b but then nothing", { "content-encoding": "gzip" });
    expectSmallError(batch, 400);
    expect(batch.body.errors[0]).toMatchObject({ code: "invalid_content_encoding" });
  });
});
