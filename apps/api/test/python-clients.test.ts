import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { json } from "@llmq/testkit";
import { FAST_AND_SLOW_MODELS, type TestStack, startTestStack } from "@llmq/stack";

// Flexstack's Python clients against the real service (API and worker on real Postgres and Redis), run
// by Debian's python3 with python3-requests (scripts/lib.sh installs it; PYTHON names that interpreter).
const PYTHON = process.env.LLMQ_PYTHON ?? "python3";
const EXAMPLES = path.resolve(__dirname, "../../../docs/examples");
const TASK_API_DOC = path.resolve(__dirname, "../../../docs/task-api.md");

let stack: TestStack;
beforeAll(async () => {
  // gemma-7b answers at once; llama-3.1-8b-instruct writes 40 tokens a second, slow enough to watch.
  stack = await startTestStack({ models: FAST_AND_SLOW_MODELS });
});
afterAll(async () => {
  await stack.close();
});

const pythonEnv = () => ({ PATH: process.env.PATH ?? "", LLMQ_URL: stack.url, LLMQ_KEY: stack.adminKey });

async function python(script: string, ...args: string[]) {
  const { stdout } = await promisify(execFile)(PYTHON, [path.join(EXAMPLES, script), ...args], {
    cwd: EXAMPLES,
    env: pythonEnv(),
    timeout: 30_000,
  });
  return stdout;
}

/** The answer the service gives the seed's request, read through the API (the reference to compare with). */
async function expectedText(): Promise<string> {
  const res = await stack.request("/v1/ai/text_completion", {
    method: "POST",
    json: { messages: [{ role: "user", content: "Hello, have a good day!" }], configs: { model: "gemma-7b", top_k: 50, top_p: 0.5, temperature: 0.7, max_tokens: 512 } },
  });
  return ((await res.json()) as { data: { data: { response: string } } }).data.data.response;
}

describe("Flexstack's Python clients, unchanged", () => {
  it("runs with requests installed", async () => {
    const { stdout } = await promisify(execFile)(PYTHON, ["-c", "import requests; print(requests.__name__)"]);
    expect(stdout.trim()).toBe("requests");
  });

  it("docs/task-api.md shows parrot.py as it is tested here", () => {
    expect(fs.readFileSync(TASK_API_DOC, "utf8")).toContain(fs.readFileSync(path.join(EXAMPLES, "parrot.py"), "utf8"));
  });

  it("parrot.py prints the answer as plain text, the same text the API answers", async () => {
    const printed = await python("parrot.py");
    const text = await expectedText();
    expect(text.length).toBeGreaterThan(20);
    expect(printed).toBe(`${text}\n`);
    expect(printed).not.toContain("event:");
  });

  it("parrot.generate_text_stream prints the text while the task is still running", async () => {
    const script = [
      "import parrot",
      "for data in parrot.generate_text_stream([{'role': 'user', 'content': 'Tell me about queues.'}], 'llama-3.1-8b-instruct', max_tokens=60):",
      "    print(data.decode(), end='', flush=True)",
    ].join("\n");
    const child = spawn(PYTHON, ["-c", script], { cwd: EXAMPLES, env: pythonEnv() });
    let printed = "";
    const exited = new Promise<number | null>((resolve) => child.once("close", resolve));
    const first = await new Promise<string>((resolve, reject) => {
      child.stdout.once("data", (chunk: Buffer) => resolve(chunk.toString()));
      void exited.then((code) => reject(new Error(`parrot exited (${code}) before printing anything`)));
    });
    printed = first;
    child.stdout.on("data", (chunk: Buffer) => (printed += chunk.toString()));
    // The first words are out while the task is still RUNNING: the reader prints as the tokens come.
    const running = await json(await stack.request("/v1/ai/tasks?status=RUNNING&model=llama-3.1-8b-instruct"));
    expect(running.data.data.tasks).toHaveLength(1);
    expect(await exited).toBe(0);
    const task = running.data.data.tasks[0];
    const done = await json(await stack.request(`/v1/ai/tasks/${task.task_id}`));
    expect(done.data.data.status).toBe("COMPLETED");
    expect(done.data.data.usage.completion_tokens).toBeGreaterThan(5);
    expect(first.length).toBeLessThan(printed.length);
    expect(printed).toBe(done.data.data.response);
  });

  it("the seed's 'Parrot API' streaming loop prints each piece as it comes", async () => {
    const printed = await python("seed_examples.py", "streaming");
    const lines = printed.trim().split("\n");
    expect(lines.length).toBeGreaterThan(3);
    expect(printed).not.toContain("data:");
  });

  it("the seed's 'Parrot API' not-streaming call prints the whole answer", async () => {
    const printed = await python("seed_examples.py", "not-streaming");
    expect(printed.trim().length).toBeGreaterThan(20);
    expect(printed).not.toContain("{");
  });

  it("the seed's 'Response streaming with Python request' prints the SSE lines: status frames around one token frame per token", async () => {
    const printed = await python("seed_examples.py", "requests");
    const events = printed.split("\n").filter((line) => line.startsWith("event: ")).map((line) => line.slice("event: ".length));
    // PENDING and RUNNING, one frame per token, COMPLETED, then the envelope.
    expect(events.join(" ")).toMatch(/^status status (token )+status result$/);
    const tokens = events.filter((e) => e === "token").length;
    expect(tokens).toBeGreaterThan(3);
    const result = JSON.parse(printed.split("\n").find((line, i, all) => all[i - 1] === "event: result")!.slice("data: ".length));
    expect(result).toMatchObject({ status: "success", data: { data: { status: "COMPLETED", percent: 100 } } });
    expect(result.data.data.usage.completion_tokens).toBe(tokens);
  });
});
