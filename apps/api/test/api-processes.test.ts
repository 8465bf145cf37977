import { readFileSync, readdirSync } from "node:fs";
import { type ServiceProcess, eventually, freePort, json, spawnService } from "@llmq/testkit";
import { FAST_AND_SLOW_MODELS, type TestStack, startTestStack } from "@llmq/stack";

// Issue 13: API_PROCESSES runs the API on every core with node:cluster. The primary forks the processes
// (each binds the port with SO_REUSEPORT), replaces one that dies, gathers /metrics from all, and on
// SIGTERM drains them all.
let stack: TestStack;
let cluster: ServiceProcess;
let base: string;

/** The pids the primary reported when all its processes listened. */
const listeningPids = (output: string): number[] => {
  const line = output.split("\n").find((l) => l.includes('"msg":"api processes listening"'));
  return line ? (JSON.parse(line) as { pids: number[] }).pids : [];
};
/** Listening TCP sockets on `port` (IPv4), from the kernel's table: state 0A is LISTEN. */
const listeningSockets = (port: number): number => {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  return readFileSync("/proc/net/tcp", "utf8")
    .split("\n")
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[1]?.endsWith(`:${hexPort}`) && fields[3] === "0A").length;
};
/**
 * True once every thread of `pid` has exited (the process gone, or a zombie its parent has not reaped yet):
 * its sockets are closed when its last thread exits, which may come after its main thread shows as a zombie.
 */
const hasExited = (pid: number): boolean => {
  try {
    return readdirSync(`/proc/${pid}/task`).every((tid) => {
      try {
        return readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8").replace(/^.*\) /s, "").startsWith("Z");
      } catch {
        return true;
      }
    });
  } catch {
    return true;
  }
};
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

beforeAll(async () => {
  // The in-process stack gives the database, the Redis prefix and a worker; the cluster is the API under test.
  stack = await startTestStack({ models: FAST_AND_SLOW_MODELS });
  const port = await freePort();
  // At debug every answered request has its access line, with the pid of the process that answered it.
  cluster = await spawnService("apps/api/src/main.ts", { ...stack.env, PORT: String(port), LOG_LEVEL: "debug", API_PROCESSES: "2" }, /"msg":"api processes listening"/, { timeoutMs: 60_000 });
  base = `http://127.0.0.1:${port}`;
}, 90_000);
afterAll(async () => {
  await cluster?.stop();
  await stack?.close();
});

const call = (path: string, init: { json?: unknown } = {}) =>
  fetch(base + path, {
    method: init.json === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${stack.adminKey}`, ...(init.json === undefined ? {} : { "content-type": "application/json" }) },
    body: init.json === undefined ? undefined : JSON.stringify(init.json),
  });

describe("API_PROCESSES=2", () => {
  it("starts two processes on one port, and /metrics counts the requests both answered", async () => {
    const pids = listeningPids(cluster.output());
    expect(pids).toHaveLength(2);
    expect(new Set(pids).size).toBe(2);
    expect(pids).not.toContain(cluster.child.pid);
    for (let i = 0; i < 3; i++) {
      const res = await call("/v1/ai/text_completion", { json: { messages: [{ role: "user", content: "hi" }], configs: { model: "gemma-7b", max_tokens: 4 } } });
      expect(res.status).toBe(200);
      expect((await json(res)).data.data.status).toBe("COMPLETED");
    }
    // Twenty polls over fresh connections, spread over both processes.
    for (let i = 0; i < 20; i++) expect((await fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${stack.adminKey}`, connection: "close" } })).status).toBe(200);
    const text = await (await call("/metrics")).text();
    expect(text).toContain('llmq_http_requests_total{method="GET",route="/v1/models",status="200"} 20');
    expect(text).toContain('llmq_http_requests_total{method="POST",route="/v1/ai/text_completion",status="200"} 3');
    // Shared state read by each process is reported once, not summed.
    expect(text).toContain("# TYPE llmq_tasks_open gauge");
  });

  it("spreads connections opened at once over both processes", async () => {
    const pids = listeningPids(cluster.output());
    // Forty clients connecting at the same moment (a burst of submits or of SSE streams), each on its own
    // connection. With one socket shared by the processes, the kernel often gave 46 or 49 of 50 such
    // connections to one process; with a socket each (SO_REUSEPORT) it spreads them by a hash of their
    // addresses: fewer than 8 of 40 on either process has odds of about 1 in 25,000.
    const statuses = await Promise.all(
      Array.from({ length: 40 }, () => fetch(`${base}/v1/models?burst=1`, { headers: { authorization: `Bearer ${stack.adminKey}`, connection: "close" } }).then((res) => res.status)),
    );
    expect(statuses).toEqual(Array(40).fill(200));
    // The mechanism, read from the kernel: one listening socket per process on the port, not one shared.
    expect(listeningSockets(Number(new URL(base).port))).toBe(2);
    const answeredBy = await eventually(
      async () => {
        const lines = cluster.output().split("\n").filter((line) => line.includes('"url":"/v1/models?burst=1"'));
        return lines.length === 40 ? lines.map((line) => (JSON.parse(line) as { pid: number }).pid) : undefined;
      },
      { what: "an access line for each of the 40 requests" },
    );
    for (const pid of pids) expect(answeredBy.filter((by) => by === pid).length).toBeGreaterThanOrEqual(8);
  });

  it("refuses to start a second API on a port the first one listens on, rather than sharing it", async () => {
    // Any process of the same user may bind a port whose sockets all have SO_REUSEPORT: the primary binds
    // it alone first, so a second llmq started on the same port stops at once and says why.
    const port = new URL(base).port;
    const second = await spawnService("apps/api/src/main.ts", { ...stack.env, PORT: port, LOG_LEVEL: "info", API_PROCESSES: "2" }, /cannot listen on/, { timeoutMs: 30_000 });
    const code = second.child.exitCode ?? (await new Promise<number | null>((resolve) => second.child.once("exit", resolve)));
    expect(code).toBe(1);
    expect(second.output()).toContain(`cannot listen on 127.0.0.1:${port}: another process is listening there`);
    // The first cluster still answers.
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
  });

  it("replaces a process that dies, and keeps answering", async () => {
    const [victim] = listeningPids(cluster.output());
    process.kill(victim!, "SIGKILL");
    const readyz = async () => {
      const res = await fetch(`${base}/readyz`, { headers: { connection: "close" }, signal: AbortSignal.timeout(5_000) }).catch((error: Error) => error.name);
      return typeof res === "string" ? res : res.status;
    };
    // Right away, while the kernel is still tearing the process down, no request hangs. A connection the
    // kernel hashed to the dying process's socket before closing it is reset (a SIGKILL loses what it held:
    // the SO_REUSEPORT trade-off, docs/scaling.md), never left unanswered. (When the primary handed
    // connections round robin, one handed to the dying process hung.)
    const during: (number | string)[] = [];
    do during.push(await readyz());
    while (!hasExited(victim!) && during.length < 500);
    expect(hasExited(victim!)).toBe(true);
    expect(during).not.toContain("TimeoutError");
    // Once it has exited its socket is gone: every new connection goes to the process left, and is answered.
    const after: (number | string)[] = [];
    for (let i = 0; i < 40; i++) after.push(await readyz());
    expect(after).toEqual(Array(40).fill(200));
    await eventually(async () => cluster.output().includes('"msg":"an API process exited; starting another"') || undefined, { what: "the primary noticing" });
    for (let i = 0; i < 10; i++) expect((await fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${stack.adminKey}`, connection: "close" } })).status).toBe(200);
    await eventually(async () => (cluster.output().match(/"msg":"api listening"/g)?.length ?? 0) >= 3 || undefined, { what: "a third process listening", timeoutMs: 30_000 });
  });

  it("SIGTERM drains every process (a request under way is answered) and the primary exits 0", async () => {
    const pids = Object.values(cluster.output().split("\n").filter((l) => l.includes('"msg":"api listening"')).map((l) => (JSON.parse(l) as { pid: number }).pid));
    // About a second of upstream work (40 tokens at 40 a second), under way when the signal arrives.
    const underWay = call("/v1/ai/text_completion", { json: { messages: [{ role: "user", content: "finish me" }], configs: { model: "llama-3.1-8b-instruct", max_tokens: 40 } } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const exited = new Promise<number | null>((resolve) => cluster.child.once("exit", (code) => resolve(code)));
    cluster.child.kill("SIGTERM");
    const answer = await underWay;
    expect(answer.status).toBe(200);
    expect((await json(answer)).data.data.status).toBe("COMPLETED");
    expect(await exited).toBe(0);
    for (const pid of pids) expect(alive(pid)).toBe(false);
  }, 30_000);
});
