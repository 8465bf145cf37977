import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type RunningApi, loadApiEnv, startApi } from "@llmq/api";
import { type RunningWorker, loadWorkerEnv, startWorker } from "@llmq/worker";
import YAML from "yaml";
import { isFinal } from "@llmq/core";
import { type ServiceProcess, createTestDatabase, eventually, spawnService, testRedisUrl, uniquePrefix } from "@llmq/testkit";
import type { ApiProcessReport } from "./api-process";
import { ResponseLedger } from "./response-ledger";


export interface TestStackOptions {
  /** Contents of the models file (providers and models), as the YAML file would hold them. */
  models?: unknown;
  /** Start a worker in this process (default true). Tests that kill workers spawn their own. */
  worker?: boolean;
  /** Extra environment for the API and workers (e.g. WAIT_DEFAULT_SECONDS, LOCK_DURATION_MS). */
  env?: Record<string, string>;
  /** A migrated database of the suite's own (e.g. a private Postgres to stop); default: a clone of the shared template. */
  databaseUrl?: string;
  /** A Redis of the suite's own (e.g. one to kill); default: the shared test Redis. */
  redisUrl?: string;
}

/** An API process of its own (TestStack.spawnApi). */
export interface SpawnedApi extends ServiceProcess {
  /** Its base URL. */
  url: string;
}

/** A task's row as the API's repository reads it. */
export type StackTask = NonNullable<Awaited<ReturnType<RunningApi["deps"]["tasks"]["findById"]>>>;

export interface TestStack {
  url: string;
  adminKey: string;
  env: Record<string, string>;
  api: RunningApi;
  worker: RunningWorker | null;
  /** Starts another worker in this process. */
  startWorker(extraEnv?: Record<string, string>): Promise<RunningWorker>;
  /** Starts a worker as a separate OS process (to be killed for real); resolves once it is ready. */
  spawnWorker(extraEnv?: Record<string, string>): Promise<ChildProcess>;
  /**
   * Starts another API process (an OS process of its own, as on another machine) on the same database,
   * Redis and prefix; resolves once it listens. Its answers are held against their routes' declarations
   * like the in-process API's: `close()` stops it and fails on any it broke.
   */
  spawnApi(extraEnv?: Record<string, string>): Promise<SpawnedApi>;
  /** Submits a task with `?async=true` (as `key`, default the admin) and returns its task id; fails unless 202. */
  submitAsync(body: unknown, key?: string): Promise<string>;
  /** The task's row once it is final (COMPLETED, FAILED, CANCELLED, EXPIRED), polled from Postgres; fails after `timeoutMs` (default 30 s). */
  finalTask(taskId: string, options?: { timeoutMs?: number; intervalMs?: number }): Promise<StackTask>;
  /** Sends `fetch` to the API with the admin key (or `key`). */
  request(pathname: string, init?: RequestInit & { key?: string; json?: unknown }): Promise<Response>;
  /** The same to another API process (`baseUrl`, e.g. a `spawnApi`'s); with `json` and no `method`, a POST. */
  requestTo(baseUrl: string, pathname: string, init?: RequestInit & { key?: string; json?: unknown }): Promise<Response>;
  /** Every answer of the API held against its route's declaration; `close()` fails if one broke it. */
  responses: ResponseLedger;
  close(): Promise<void>;
}

/** gemma-7b answers at once; llama-3.1-8b-instruct writes 40 tokens a second (a 40-token task runs about a second). */
export const FAST_AND_SLOW_MODELS = {
  providers: {
    fast: { type: "simulated", first_token_ms: 5, tokens_per_second: 2000 },
    slow: { type: "simulated", first_token_ms: 5, tokens_per_second: 40 },
  },
  models: [
    { id: "gemma-7b", provider: "fast", concurrency: 8 },
    { id: "llama-3.1-8b-instruct", provider: "slow", concurrency: 4 },
  ],
};

export const DEFAULT_TEST_MODELS = {
  providers: { fast: { type: "simulated", first_token_ms: 5, tokens_per_second: 2000 } },
  models: [
    { id: "gemma-7b", provider: "fast", concurrency: 8 },
    { id: "llama-3.1-8b-instruct", provider: "fast", concurrency: 4 },
  ],
};

/** A whole service on real Postgres and Redis: its own database and key prefix, the API on a free port. */
export async function startTestStack(options: TestStackOptions = {}): Promise<TestStack> {
  const database = options.databaseUrl ? { url: options.databaseUrl, drop: async () => undefined } : await createTestDatabase();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llmq-stack-"));
  const modelsFile = path.join(dir, "models.yaml");
  fs.writeFileSync(modelsFile, YAML.stringify(options.models ?? DEFAULT_TEST_MODELS));
  const adminKey = `admin_${uniquePrefix()}_0123456789abcdef`;
  const env: Record<string, string> = {
    DATABASE_URL: database.url,
    REDIS_URL: options.redisUrl ?? testRedisUrl(),
    REDIS_PREFIX: uniquePrefix(),
    MODELS_FILE: modelsFile,
    ADMIN_API_KEY: adminKey,
    AUTH_JWT_SECRET: `jwt_${uniquePrefix()}_0123456789abcdef0123456789abcdef`,
    PORT: "0",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    CHECKPOINT_INTERVAL_MS: "100",
    LOCK_DURATION_MS: "4000",
    STALLED_INTERVAL_MS: "1000",
    WORKER_DEAD_AFTER_MS: "3000",
    SHUTDOWN_TIMEOUT_MS: "5000",
    ...options.env,
  };
  const responses = new ResponseLedger();
  const api = await startApi(loadApiEnv(env), env, { onResponse: responses.observe });
  const workers: RunningWorker[] = [];
  const children: ChildProcess[] = [];
  const apis: SpawnedApi[] = [];
  const launchWorker = async (extraEnv: Record<string, string> = {}) => {
    const worker = await startWorker(loadWorkerEnv({ ...env, ...extraEnv }), { ...env, ...extraEnv });
    workers.push(worker);
    return worker;
  };
  const worker = options.worker === false ? null : await launchWorker();

  const requestTo: TestStack["requestTo"] = (baseUrl, pathname, init = {}) => {
    const { key, json, headers, ...rest } = init;
    return fetch(baseUrl + pathname, {
      ...rest,
      method: rest.method ?? (json !== undefined ? "POST" : "GET"),
      headers: {
        authorization: `Bearer ${key ?? adminKey}`,
        ...(json !== undefined ? { "content-type": "application/json" } : {}),
        ...(headers as Record<string, string> | undefined),
      },
      body: json !== undefined ? JSON.stringify(json) : rest.body,
    });
  };
  const request: TestStack["request"] = (pathname, init) => requestTo(api.url, pathname, init);

  return {
    url: api.url,
    adminKey,
    env,
    api,
    worker,
    startWorker: launchWorker,
    spawnWorker: (extraEnv = {}) => spawnWorkerProcess({ ...env, LOG_LEVEL: "info", ...extraEnv }, children),
    spawnApi: async (extraEnv = {}) => {
      const api = await spawnApiProcess({ ...env, LOG_LEVEL: "info", ...extraEnv }, children);
      apis.push(api);
      return api;
    },
    request,
    requestTo,
    responses,
    submitAsync: async (body, key) => {
      const res = await request("/v1/ai/text_completion?async=true", { method: "POST", json: body, key });
      if (res.status !== 202) throw new Error(`submit answered ${res.status}: ${await res.text()}`);
      return ((await res.json()) as { data: { data: { task_id: string } } }).data.data.task_id;
    },
    finalTask: (taskId, { timeoutMs = 30_000, intervalMs = 100 } = {}) =>
      eventually(
        async () => {
          const task = await api.deps.tasks.findById(taskId);
          return task && isFinal(task.status) ? task : undefined;
        },
        { timeoutMs, intervalMs, what: `task ${taskId} final` },
      ),
    close: async () => {
      // API processes first, gently: on SIGTERM each reports how many answers it checked.
      await Promise.all(apis.map((spawned) => spawned.stop()));
      for (const spawned of apis) readApiReports(spawned.output(), responses);
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await Promise.all(workers.map((w) => w.close()));
      await api.close();
      await database.drop();
      fs.rmSync(dir, { recursive: true, force: true });
      responses.assertClean();
    },
  };
}

/** `node --import tsx apps/worker/src/main.ts`: one OS process, so a signal reaches the worker itself. */
async function spawnWorkerProcess(env: Record<string, string>, children: ChildProcess[]): Promise<ChildProcess> {
  return (await spawnService("apps/worker/src/main.ts", env, /worker ready/, { children })).child;
}

/** An API process (tests/stack/src/api-process.ts) on a port of its own; resolves once it listens. */
async function spawnApiProcess(env: Record<string, string>, children: ChildProcess[]): Promise<SpawnedApi> {
  const service = await spawnService("tests/stack/src/api-process.ts", { ...env, PORT: "0", API_PROCESSES: "1" }, /"msg":"api listening"/, { children });
  const url = /"url":"(http:\/\/[^"]+)"/.exec(service.output())![1]!;
  return { ...service, url };
}

/** Feeds an API process's contract lines into `ledger`: its problems, and how many answers it checked. */
function readApiReports(output: string, ledger: ResponseLedger): void {
  for (const line of output.split("\n")) {
    if (!line.startsWith('{"contract')) continue;
    const report = JSON.parse(line) as ApiProcessReport;
    if ("contractProblem" in report) ledger.problems.push(report.contractProblem);
    else ledger.checked += report.contractChecked;
  }
}
