// Every way an OpenAI-compatible upstream can misbehave, through the whole stack (API -> queue -> worker
// -> provider -> fixture over real TCP): each task ends in the right state, retried or not, with a clear
// error. The fixture's misbehaviour rides in the prompt as a [[fixture:...]] marker.
import net from "node:net";
import type { TaskRecord } from "@llmq/db";
import { jobCatalog } from "@llmq/queue";
import { type OpenAIFixture, eventually, json, startOpenAIFixture } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";

const ATTEMPTS = jobCatalog["text-completion"].options.attempts;

let fixture: OpenAIFixture;
let stack: TestStack;
let closedPort: number;
beforeAll(async () => {
  fixture = await startOpenAIFixture();
  // A port nobody listens on: connections are refused.
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  closedPort = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  stack = await startTestStack({
    models: {
      providers: {
        upstream: { type: "openai", base_url: fixture.url, api_key: "fixture-secret-key", timeout_ms: 4_000, idle_timeout_ms: 2_500 },
        nowhere: { type: "openai", base_url: `http://127.0.0.1:${closedPort}/v1`, api_key: "k", timeout_ms: 1_500 },
      },
      models: [
        { id: "upstream-model", provider: "upstream", upstream_model: "fixture-model", concurrency: 24 },
        { id: "nowhere-model", provider: "nowhere", concurrency: 2 },
      ],
    },
  });
});
afterAll(async () => {
  await stack?.close();
  await fixture?.close();
});

/** What must not reach a tenant: the upstreams' hosts, ports and provider names, and the addresses in their messages. */
function upstreamAddress(): RegExp {
  const fixturePort = new URL(fixture.url).port;
  return new RegExp(`127\\.0\\.0\\.1|localhost|:${fixturePort}|${closedPort}|10\\.1\\.2\\.3|vllm\\.internal|fd00::5|:8000|nowhere|upstream upstream|ECONNREFUSED`);
}

async function submit(model: string, content: string): Promise<string> {
  return stack.submitAsync({ messages: [{ role: "user", content }], configs: { model, max_tokens: 200, temperature: 0 } });
}

function final(taskId: string): Promise<TaskRecord> {
  return eventually(
    async () => {
      const task = await stack.api.deps.tasks.findById(taskId);
      return task && ["COMPLETED", "FAILED", "CANCELLED", "EXPIRED"].includes(task.status) ? task : undefined;
    },
    { timeoutMs: 100_000, intervalMs: 200, what: `task ${taskId} final` },
  );
}

/**
 * The task's events: one final, and one retry notice (PENDING with the error) per attempt that failed and
 * was retried. Read once the final event is there: it is appended after the row's final state commits.
 */
async function eventsOf(taskId: string) {
  const entries = await eventually(
    async () => {
      const read = await stack.api.deps.log.readAfter(taskId, "0", 10_000);
      return read.some((entry) => entry.event.type === "final") ? read : undefined;
    },
    { what: `the final event of ${taskId}` },
  );
  return entries.map((entry) => entry.event);
}

const TEXT = "héllo wörld, ✓ done 🌍";

interface Case {
  name: string;
  model?: string;
  marker: string;
  status: "COMPLETED" | "FAILED";
  attempts: number;
  code?: string;
  message?: RegExp;
}

const CASES: Case[] = [
  // Streams that look odd but are valid: the text arrives whole.
  { name: "frames split across TCP chunks, multi-byte characters too", marker: "splitFrames=3", status: "COMPLETED", attempts: 1 },
  { name: "CRLF line endings", marker: "crlf=true", status: "COMPLETED", attempts: 1 },
  { name: "SSE comments between frames", marker: "comments=true", status: "COMPLETED", attempts: 1 },
  { name: "very long lines (300 kB frames)", marker: "framePadding=300000", status: "COMPLETED", attempts: 1 },
  { name: "no [DONE] after the finish_reason frame", marker: "omitDone=true", status: "COMPLETED", attempts: 1 },
  // Passing faults: retried, then completed.
  // A 429 pauses the upstream; the attempt waits for the pause inside itself (scheduling.pause_hold_max_ms), no try spent.
  { name: "429 with Retry-After, once", marker: "status=429,retryAfter=1,failFirst=1", status: "COMPLETED", attempts: 1 },
  { name: "503, once", marker: "status=503,retryAfterMs=50,failFirst=1", status: "COMPLETED", attempts: 2 },
  // Faults that retrying cannot fix: failed at once. (insufficient_quota is no such fault any more: the task
  // waits for the upstream, see upstream-failover.test.ts.)
  { name: "400", marker: "status=400,errorMessage=context too long", status: "FAILED", attempts: 1, code: "upstream_bad_request", message: /answered 400: context too long/ },
  { name: "401", marker: "status=401", status: "FAILED", attempts: 1, code: "upstream_auth", message: /answered 401: Incorrect API key/ },
  {
    name: "400 whose message names the upstream's addresses",
    marker: "status=400,errorMessage=no route to http://10.1.2.3:8000/v1/chat/completions from vllm.internal:8000 at 10.1.2.3:8000 or fd00::5 port 8000",
    status: "FAILED",
    attempts: 1,
    code: "upstream_bad_request",
    message: /answered 400: no route to /,
  },
  // Faults that persist: every attempt spent, then failed with the last error.
  { name: "500 every time", marker: "status=500,retryAfterMs=50", status: "FAILED", attempts: ATTEMPTS, code: "upstream_server_error", message: /answered 500/ },
  { name: "503 every time", marker: "status=503,retryAfterMs=50", status: "FAILED", attempts: ATTEMPTS, code: "upstream_server_error", message: /answered 503/ },
  { name: "connection refused", model: "nowhere-model", marker: "", status: "FAILED", attempts: ATTEMPTS, code: "upstream_unreachable", message: /could not be reached: connection refused/ },
  { name: "first token slower than timeout_ms", marker: "firstTokenDelayMs=8000", status: "FAILED", attempts: ATTEMPTS, code: "upstream_timeout", message: /sent nothing for \d+ ms/ },
  { name: "a stream that stalls midway", marker: "stallAfterTokens=2", status: "FAILED", attempts: ATTEMPTS, code: "upstream_timeout", message: /sent nothing for 2500 ms/ },
  { name: "a stream reset midway", marker: "resetAfterTokens=2", status: "FAILED", attempts: ATTEMPTS, code: "upstream_unreachable", message: /could not be reached: connection reset/ },
  { name: "a frame that is not JSON", marker: "malformedAfterTokens=2", status: "FAILED", attempts: ATTEMPTS, code: "upstream_protocol", message: /not JSON/ },
  { name: "a stream cut before finishing, no [DONE]", marker: "endAfterTokens=2", status: "FAILED", attempts: ATTEMPTS, code: "upstream_protocol", message: /ended the stream before finishing/ },
];

describe("upstream faults end to end", () => {
  it(`ends each of ${CASES.length} faults in the right state with a clear error`, async () => {
    const submitted = await Promise.all(
      CASES.map(async (c, i) => {
        const content = c.marker ? `${TEXT} #${i} [[fixture:${c.marker}]]` : `${TEXT} #${i}`;
        return { c, i, taskId: await submit(c.model ?? "upstream-model", content) };
      }),
    );
    const outcomes = await Promise.all(
      submitted.map(async (s) => {
        const task = await final(s.taskId).catch(async (error) => {
          throw new Error(`${s.c.name}: ${String(error)} ${JSON.stringify(await stack.api.deps.tasks.findById(s.taskId))}`);
        });
        return { ...s, task };
      }),
    );

    for (const { c, i, taskId, task } of outcomes) {
      const retryErrors = (await eventsOf(taskId)).flatMap((event) => (event.type === "status" && event.error ? [event.error.message] : []));
      const label = `${c.name}: ${JSON.stringify({ status: task.status, attempts: task.attempts, code: task.errorCode, message: task.errorMessage, retryErrors })}`;
      expect({ label, status: task.status, attempts: task.attempts }).toEqual({ label, status: c.status, attempts: c.attempts });
      const events = await eventsOf(taskId);
      expect(events.filter((event) => event.type === "final")).toEqual([{ type: "final", status: c.status }]);
      const retries = events.filter((event) => event.type === "status" && event.status === "PENDING" && event.error);
      expect({ label, retries: retries.length }).toEqual({ label, retries: c.attempts - 1 });
      if (c.status === "COMPLETED") {
        expect({ label, response: task.response, error: task.errorCode }).toEqual({ label, response: `Echo: ${TEXT} #${i}`, error: null });
        continue;
      }
      expect({ label, code: task.errorCode }).toEqual({ label, code: c.code });
      expect(task.errorMessage).toMatch(c.message!);
      expect(task.errorMessage).not.toContain("fixture-secret-key");
      // Tenants read these (task views, OpenAI error bodies, SSE events): no upstream host, address, port or provider name.
      for (const message of [task.errorMessage, ...retryErrors]) {
        expect({ label, message }).not.toEqual({ label, message: expect.stringMatching(upstreamAddress()) });
      }
      // What the client reads says the same, in both dialects' task views.
      const body = await json(await stack.request(`/v1/ai/tasks/${taskId}`));
      expect(body.data.data).toMatchObject({ status: "FAILED", error: { code: c.code, message: task.errorMessage } });
      expect(body.error_description).toBe(task.errorMessage);
    }
  }, 150_000);
});
