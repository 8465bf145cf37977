// OpenAI's Responses API (/v1/responses) through the official `openai` package: a response is a task.
import { eventually } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import type OpenAI from "openai";
import { flexTask, sdkClient } from "./openai-sdk-support";

const MODEL = "llama-3.1-8b-instruct";

let stack: TestStack;
let client: OpenAI;
beforeAll(async () => {
  stack = await startTestStack();
  client = sdkClient(stack);
});
afterAll(async () => {
  await stack.close();
});

describe("responses through the openai SDK", () => {
  it("answers a response in the same request when not in the background", async () => {
    const response = await client.responses.create({ model: MODEL, input: "Say hello.", max_output_tokens: 20 });

    expect(response.object).toBe("response");
    expect(response.id).toMatch(/^resp_[0-9a-f]{32}$/);
    expect(["completed", "incomplete"]).toContain(response.status);
    expect(response.output_text.length).toBeGreaterThan(0);
    expect(response.usage?.output_tokens).toBeGreaterThan(0);
    expect(response.background).toBe(false);
  });

  it("queues a background response, which retrieve then shows completed, and which is a task in the history", async () => {
    const created = await client.responses.create({ model: MODEL, input: [{ role: "user", content: "Count to five." }], background: true, metadata: { run: "one" } });
    expect(created.status).toBe("queued");
    expect(created.background).toBe(true);
    expect(created.output).toEqual([]);

    const done = await eventually(async () => {
      const current = await client.responses.retrieve(created.id);
      expect(["completed", "incomplete"]).toContain(current.status);
      return current;
    });
    expect(done.output_text.length).toBeGreaterThan(0);
    expect(done.metadata).toEqual({ run: "one" });

    const task = await flexTask(stack, created.id.slice("resp_".length));
    expect(task.status).toBe("COMPLETED");
  });
});
