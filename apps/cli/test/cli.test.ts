import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { eventually, json } from "@llmq/testkit";
import { FAST_AND_SLOW_MODELS, type TestStack, startTestStack } from "@llmq/stack";

const CLI = path.resolve(__dirname, "../bin/llmq.js");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let stack: TestStack;
let dir: string;

beforeAll(async () => {
  stack = await startTestStack({ models: FAST_AND_SLOW_MODELS });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "llmq-cli-test-"));
});
afterAll(async () => {
  await stack.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs `node bin/llmq.js ...` as a real subprocess (asynchronously: the API runs in this process). */
function llmq(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "", LLMQ_BASE_URL: stack.url, LLMQ_API_KEY: stack.adminKey, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

function request(customId: string, body: Record<string, unknown>): string {
  return JSON.stringify({ custom_id: customId, method: "POST", url: "/v1/chat/completions", body });
}

function writeJsonl(name: string, lines: string[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

const BATCH_ID = /^batch_[0-9a-f]{32}$/;

describe("llmq batch", () => {
  it("submits a 50-line file, waits for it, and downloads one result per custom_id", async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `req-${i}`);
    // Half the lines carry no model: --model fills them in.
    const file = writeJsonl(
      "fifty.jsonl",
      ids.map((id, i) => request(id, { ...(i % 2 ? { model: "gemma-7b" } : {}), messages: [{ role: "user", content: `Question ${i}` }], max_tokens: 8 })),
    );
    const submitted = await llmq(["batch", "submit", file, "--model", "gemma-7b", "--wait"]);
    expect(submitted.stderr).toContain("completed");
    expect(submitted.code).toBe(0);
    const batchId = submitted.stdout.trim();
    expect(batchId).toMatch(BATCH_ID);
    // Not a terminal: plain progress lines, then the summary.
    expect(submitted.stderr).toMatch(new RegExp(`${batchId} \\w+: \\d+/\\d+ done`));
    expect(submitted.stderr).toContain("50 total, 50 completed, 0 failed");
    // The finished batch's progress line has no ETA left to guess ("ETA ?" before).
    const finished = submitted.stderr.split("\n").filter((l) => l.startsWith(`${batchId} completed:`));
    expect(finished).toHaveLength(1);
    expect(finished[0]).toMatch(/50\/50 done, 0 failed/);
    expect(finished[0]).not.toContain("ETA");

    const results = await llmq(["batch", "results", batchId, "-o", "out.jsonl"]);
    expect(results.code).toBe(0);
    const lines = fs.readFileSync(path.join(dir, "out.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(lines).toHaveLength(50);
    expect(lines.map((l) => l.custom_id)).toEqual(ids);
    expect(lines.every((l) => l.response.status_code === 200)).toBe(true);

    // The task API lists it too, as an OpenAI Batch API batch.
    const listed = (await json(await stack.request("/v1/ai/batches?limit=100"))).data.data.batches as { batch_id: string; dialect: string }[];
    expect(listed.find((b) => b.batch_id === batchId)?.dialect).toBe("openai");

    const status = await llmq(["batch", "status", batchId]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`${batchId}: completed`);
    const raw = await llmq(["batch", "status", batchId, "--json"]);
    expect(JSON.parse(raw.stdout)).toMatchObject({ id: batchId, status: "completed", request_counts: { total: 50, completed: 50, failed: 0 } });

    // A completed batch has no error file.
    const errors = await llmq(["batch", "results", batchId, "--errors", "-o", "errors.jsonl"]);
    expect(errors.code).toBe(4);
  });

  it("exits 3 and prints the validation errors when the file is invalid", async () => {
    const file = writeJsonl("invalid.jsonl", [
      request("ok", { model: "gemma-7b", messages: [{ role: "user", content: "fine" }] }),
      "{not json",
      request("bad-temp", { model: "gemma-7b", messages: [{ role: "user", content: "x" }], temperature: 9 }),
    ]);
    const run = await llmq(["batch", "submit", file, "--wait"]);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(": failed");
    expect(run.stderr).toMatch(/line 2: invalid_json/);
    expect(run.stderr).toMatch(/line 3: invalid_request: .*\(body\.temperature\)/);
    // Each error names its line once ("line 2: invalid_json: Line 2 is not valid JSON." before).
    const errorLines = run.stderr.split("\n").filter((l) => /^\s+line \d+:/.test(l));
    expect(errorLines).toHaveLength(2);
    for (const l of errorLines) expect([l, l.match(/line \d+/gi)?.length]).toEqual([l, 1]);
  });

  it("cancels a running batch", async () => {
    // Up to 200 tokens each at 40 a second, four at a time: still running when the CLI, started afresh
    // (seconds under load), sends the cancel (with 20 tokens each, a loaded run saw it finish first).
    const file = writeJsonl(
      "slow.jsonl",
      Array.from({ length: 20 }, (_, i) => request(`s-${i}`, { model: "llama-3.1-8b-instruct", messages: [{ role: "user", content: `Slow ${i}` }], max_tokens: 200 })),
    );
    const submitted = await llmq(["batch", "submit", file]);
    expect(submitted.code).toBe(0);
    const batchId = submitted.stdout.trim();
    const cancelled = await llmq(["batch", "cancel", batchId]);
    expect(cancelled.code).toBe(0);
    expect(cancelled.stdout).toMatch(new RegExp(`^${batchId}: (cancelling|cancelled)`));
    await eventually(async () => {
      const status = await llmq(["batch", "status", batchId, "--json"]);
      return JSON.parse(status.stdout).status === "cancelled" ? true : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500, what: "batch cancelled" });
  });

  it("exits 4 for an unknown batch and 2 for a bad key", async () => {
    const unknown = await llmq(["batch", "status", "batch_0123456789abcdef0123456789abcdef"]);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toMatch(/^llmq: 404: .+\n$/);
    const badKey = await llmq(["batch", "status", "batch_0123456789abcdef0123456789abcdef"], { LLMQ_API_KEY: "sk-not-a-key-of-this-server" });
    expect(badKey.code).toBe(2);
    expect(badKey.stderr).toMatch(/^llmq: 401: .+\n$/);
    const unreachable = await llmq(["tasks", "list"], { LLMQ_BASE_URL: "http://127.0.0.1:9" });
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr).toMatch(/^llmq: cannot reach the server/);
  });
});

describe("llmq tasks", () => {
  it("lists and gets tasks", async () => {
    const taskId = await stack.submitAsync({ messages: [{ role: "user", content: "List me" }], configs: { model: "gemma-7b", max_tokens: 16 } });
    await eventually(async () => ((await json(await stack.request(`/v1/ai/tasks/${taskId}`))).data.data.status === "COMPLETED" ? true : undefined), { what: "task completed" });

    const list = await llmq(["tasks", "list", "--model", "gemma-7b", "--status", "completed", "--limit", "5"]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(taskId);
    expect(list.stdout.trim().split("\n").length).toBeLessThanOrEqual(5);
    const listed = await llmq(["tasks", "list", "--json", "--limit", "1"]);
    expect(JSON.parse(listed.stdout)).toHaveLength(1);

    const get = await llmq(["tasks", "get", taskId]);
    expect(get.code).toBe(0);
    expect(get.stdout).toContain(`${taskId}: COMPLETED`);
    const raw = await llmq(["tasks", "get", taskId, "--json"]);
    expect(JSON.parse(raw.stdout)).toMatchObject({ task_id: taskId, status: "COMPLETED", model: "gemma-7b" });

    const missing = await llmq(["tasks", "get", "0123456789abcdef0123456789abcdef"]);
    expect(missing.code).toBe(4);
  });

  it("watch prints the task's text as it streams, then the final status on stderr", async () => {
    // The slow model writes 40 tokens a second: the watch starts while the task runs.
    const taskId = await stack.submitAsync({ messages: [{ role: "user", content: "Tell me a story" }], configs: { model: "llama-3.1-8b-instruct", max_tokens: 40 } });
    const watch = await llmq(["tasks", "watch", taskId]);
    expect(watch.code).toBe(0);
    const task = (await json(await stack.request(`/v1/ai/tasks/${taskId}`))).data.data;
    expect(task.status).toBe("COMPLETED");
    expect(watch.stdout).toBe(task.response);
    expect(watch.stderr).toMatch(new RegExp(`^${taskId}: COMPLETED`));
  });

  it("watch exits 2 naming the reason when the server ends the stream (its key revoked mid-task)", async () => {
    const created = (await json(await stack.request("/v1/admin/keys", { method: "POST", json: { name: "cli-watch" } }))).data.data;
    const taskId = await stack.submitAsync({ messages: [{ role: "user", content: "A long story" }], configs: { model: "llama-3.1-8b-instruct", max_tokens: 400 } }, created.key);
    const watching = llmq(["tasks", "watch", taskId], { LLMQ_API_KEY: created.key });
    await eventually(async () => (stack.api.deps.streamGuard.size() > 0 ? true : undefined), { what: "the watch's stream to open" });
    expect((await stack.request(`/v1/admin/keys/${created.id}`, { method: "DELETE" })).status).toBe(200);
    const watch = await watching;
    expect(watch.code).toBe(2);
    expect(watch.stderr).toContain("api_key_revoked");
  });

  it("exits 1 on missing arguments and bad options, naming the problem", async () => {
    const missing = await llmq(["batch", "submit"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("missing required argument");
    const badLimit = await llmq(["tasks", "list", "--limit", "0"]);
    expect(badLimit.code).toBe(1);
    expect(badLimit.stderr).toContain("--limit");
    const noKey = await llmq(["tasks", "list"], { LLMQ_API_KEY: "" });
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toContain("LLMQ_API_KEY");
    const noFile = await llmq(["batch", "submit", "nope.jsonl"]);
    expect(noFile.code).toBe(1);
    expect(noFile.stderr).toBe("llmq: nope.jsonl: no such file\n");
    const help = await llmq(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Exit codes:");
  });
});
