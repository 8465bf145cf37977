// scripts/start.sh as an operator runs it (against the test Postgres and Redis): a worker or API process
// that dies is started again, and the fresh worker takes over the dead one's task at once, long before
// its lock (2 minutes here) would have run out.
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createTestDatabase, eventually, freePort, json, testRedisUrl, uniquePrefix } from "@llmq/testkit";

const REPO_ROOT = path.resolve(__dirname, "../../..");
const ADMIN_KEY = `admin_${uniquePrefix()}_0123456789abcdef`;

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let dir: string;
let started: ChildProcess | null = null;
let output = "";
let url = "";
beforeAll(async () => {
  database = await createTestDatabase();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "llmq-supervised-"));
  fs.writeFileSync(
    path.join(dir, "models.json"),
    JSON.stringify({ providers: { slow: { type: "simulated", first_token_ms: 5, tokens_per_second: 40 } }, models: [{ id: "slow-model", provider: "slow", concurrency: 2 }] }),
  );
});
afterAll(async () => {
  if (started && started.exitCode === null && started.signalCode === null) {
    started.kill("SIGTERM");
    await new Promise((resolve) => started!.once("exit", resolve));
  }
  await database?.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});


/** Pids of the processes that logged `msg` (pino JSON lines), in order. */
function pidsThatLogged(msg: string): number[] {
  return output.split("\n").flatMap((line) => {
    if (!line.startsWith("{")) return [];
    try {
      const entry = JSON.parse(line) as { msg?: string; pid?: number };
      return entry.msg === msg && entry.pid ? [entry.pid] : [];
    } catch {
      return [];
    }
  });
}

const api = (pathname: string, init: RequestInit & { json?: unknown } = {}) =>
  fetch(url + pathname, {
    ...init,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
    body: init.json === undefined ? undefined : JSON.stringify(init.json),
  });

async function taskData(taskId: string) {
  return (await json(await api(`/v1/ai/tasks/${taskId}`))).data.data;
}

describe("scripts/start.sh", () => {
  it("starts a killed worker and a killed API again; the fresh worker takes the task over at once", async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    started = spawn("bash", ["scripts/start.sh"], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? os.tmpdir(),
        LLMQ_SKIP_INSTALL: "1",
        DATABASE_URL: database.url,
        REDIS_URL: testRedisUrl(),
        REDIS_PREFIX: uniquePrefix(),
        ADMIN_API_KEY: ADMIN_KEY,
        PORT: String(port),
        MODELS_FILE: path.join(dir, "models.json"),
        LOG_LEVEL: "info",
        CHECKPOINT_INTERVAL_MS: "100",
        LOCK_DURATION_MS: "120000",
        STALLED_INTERVAL_MS: "1000",
        WORKER_DEAD_AFTER_MS: "3000",
        // One API process, so killing it is start.sh's to repair (with several, the cluster's primary replaces
        // a dead one itself: api-processes.test.ts).
        API_PROCESSES: "1",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    started.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    started.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    await eventually(async () => (output.includes("llmq is running") ? true : undefined), { timeoutMs: 90_000, intervalMs: 200, what: `start.sh to be up:\n${output}` });

    // A worker dies mid-task: the supervisor starts a fresh one, which finds the task at once.
    const submitted = await api("/v1/ai/text_completion?async=true", {
      method: "POST",
      json: { messages: [{ role: "user", content: "A long answer, please." }], configs: { model: "slow-model", max_tokens: 150, temperature: 0 } },
    });
    expect(submitted.status).toBe(202);
    const taskId: string = (await json(submitted)).data.data.task_id;
    await eventually(async () => ((await taskData(taskId)).usage.completion_tokens >= 5 ? true : undefined), { what: "the task running" });
    const [firstWorker] = pidsThatLogged("worker ready");
    process.kill(firstWorker!, "SIGKILL");
    await eventually(async () => (output.includes("worker-1 exited with status 137; restarting") ? true : undefined), { what: "the supervisor to notice" });
    const done = await eventually(
      async () => {
        const task = await taskData(taskId);
        return task.status === "COMPLETED" ? task : undefined;
      },
      { timeoutMs: 45_000, intervalMs: 200, what: "the task completed by the fresh worker" },
    );
    expect(done).toMatchObject({ status: "COMPLETED", attempts: 2, percent: 100 });
    expect(pidsThatLogged("worker ready")).toHaveLength(2);
    expect(pidsThatLogged("worker ready")[1]).not.toBe(firstWorker);

    // The API dies: it is started again and serves as before.
    const [firstApi] = pidsThatLogged("api listening");
    process.kill(firstApi!, "SIGKILL");
    await eventually(async () => (pidsThatLogged("api listening").length === 2 ? true : undefined), { timeoutMs: 45_000, what: "the API started again" });
    await eventually(async () => ((await fetch(`${url}/readyz`).catch(() => null))?.status === 200 ? true : undefined), { what: "ready again" });
    const again = await api("/v1/ai/text_completion", {
      method: "POST",
      json: { messages: [{ role: "user", content: "Still there?" }], configs: { model: "slow-model", max_tokens: 5 } },
    });
    expect((await json(again)).data.data.status).toBe("COMPLETED");

    // Ctrl-C (here SIGTERM) stops everything it started.
    const children = [...pidsThatLogged("worker ready"), ...pidsThatLogged("api listening")].slice(-2);
    started.kill("SIGTERM");
    await new Promise((resolve) => started!.once("exit", resolve));
    for (const pid of children) {
      expect(() => process.kill(pid, 0)).toThrow();
    }
  });
});
