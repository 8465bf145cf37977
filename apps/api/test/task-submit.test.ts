import { json, readSse } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";

const SEED_REQUEST = {
  messages: [{ role: "user", content: "Hello, have a good day!" }],
  configs: { model: "gemma-7b", max_tokens: 1024, top_k: 10, top_p: 0.9, temperature: 0 },
};

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack.close();
});

describe("POST /v1/ai/text_completion", () => {
  it("answers the seed's example as a COMPLETED Flexstack envelope", async () => {
    const res = await stack.request("/v1/ai/text_completion?stream=false", { method: "POST", json: SEED_REQUEST });
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.status).toBe("success");
    expect(body.errors).toEqual([]);
    expect(body.error_description).toBe("");
    expect(body.data.is_success).toBe(true);
    const task = body.data.data;
    expect(task.task_id).toMatch(/^[0-9a-f]{32}$/);
    expect(task.total_tasks).toBe(1);
    expect(task.percent).toBe(100);
    expect(task.status).toBe("COMPLETED");
    expect(task.response.length).toBeGreaterThan(20);
    expect(task.finish_reason).toBe("stop");
    expect(task.usage.completion_tokens).toBeGreaterThan(0);
    expect(body.data.configs).toEqual({
      model: "gemma-7b",
      max_new_tokens: 1024,
      top_k: 10,
      top_p: 0.9,
      temperature: 0,
      task_type: "LLM-GEMMA-7B",
      queue_name: "llm_gemma_7b_queue",
      messages: SEED_REQUEST.messages,
    });
    expect(body.start_time).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/);
    expect(body.end_time).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/);
    expect(body.host_of_client_call_request).toBe("127.0.0.1");
    expect(body.total_time_by_second).toBeGreaterThan(0);
    expect(res.headers.get("x-task-id")).toBe(task.task_id);

    // The stored task agrees with what was answered, timings in order.
    const stored = await stack.api.deps.tasks.findById(task.task_id);
    expect(stored?.status).toBe("COMPLETED");
    expect(stored?.response).toBe(task.response);
    expect(stored?.attempts).toBe(1);
    expect(stored!.createdAt <= stored!.startedAt!).toBe(true);
    expect(stored!.startedAt! <= stored!.firstTokenAt!).toBe(true);
    expect(stored!.firstTokenAt! <= stored!.completedAt!).toBe(true);
  });

  it("applies Flexstack's documented defaults and accepts max_new_tokens", async () => {
    const res = await stack.request("/v1/ai/text_completion", { method: "POST", json: { messages: [{ role: "user", content: "defaults" }] } });
    const body = await json(res);
    expect(body.data.configs).toMatchObject({ model: "gemma-7b", temperature: 0.7, top_k: 50, top_p: 0.5, max_new_tokens: 512 });

    const alias = await stack.request("/v1/ai/text_completion", {
      method: "POST",
      json: { messages: [{ role: "user", content: "alias" }], configs: { max_new_tokens: 3 } },
    });
    const aliasBody = await json(alias);
    expect(aliasBody.data.configs.max_new_tokens).toBe(3);
    expect(aliasBody.data.data.usage.completion_tokens).toBe(3);
    expect(aliasBody.data.data.finish_reason).toBe("length");
  });

  it("gives the same text for the same prompt (deterministic simulated model)", async () => {
    const ask = async () =>
      (await json(await stack.request("/v1/ai/text_completion", { method: "POST", json: SEED_REQUEST }))).data.data.response;
    expect(await ask()).toBe(await ask());
  });

  it("answers 202 at once with ?async=true and with Prefer: respond-async, then completes", async () => {
    for (const [query, headers] of [["?async=true", {}], ["", { prefer: "respond-async" }]] as const) {
      const res = await stack.request(`/v1/ai/text_completion${query}`, { method: "POST", json: SEED_REQUEST, headers });
      expect(res.status).toBe(202);
      const body = await json(res);
      expect(body.data.data.status).toBe("PENDING");
      expect(body.data.data.percent).toBe(0);
      const taskId = body.data.data.task_id;
      expect(res.headers.get("location")).toBe(`/v1/ai/tasks/${taskId}`);
      const done = await waitForStatus(taskId, "COMPLETED");
      expect(done.data.data.percent).toBe(100);
    }
  });

  it("streams token events then the whole envelope with ?stream=true", async () => {
    const res = await stack.request("/v1/ai/text_completion?stream=true", { method: "POST", json: SEED_REQUEST });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const events = await readSse(res);
    const names = events.map((e) => e.event);
    expect(names[0]).toBe("status");
    expect(JSON.parse(events[0]!.data).status).toBe("PENDING");
    expect(names).toContain("token");
    expect(names[names.length - 1]).toBe("result");
    const tokens = events.filter((e) => e.event === "token").map((e) => JSON.parse(e.data));
    const result = JSON.parse(events[events.length - 1]!.data);
    expect(result.data.data.status).toBe("COMPLETED");
    expect(tokens.map((t) => t.delta).join("")).toBe(result.data.data.response);
    const percents = tokens.map((t) => t.percent);
    expect([...percents].sort((a, b) => a - b)).toEqual(percents);
    expect(tokens.every((t) => t.task_id === result.data.data.task_id && t.status === "RUNNING")).toBe(true);
    // Every event but the result carries an id usable as Last-Event-ID.
    expect(events.slice(0, -1).every((e) => /^\d+-\d+$/.test(e.id ?? ""))).toBe(true);
  });
});

async function waitForStatus(taskId: string, status: string) {
  for (let i = 0; i < 400; i++) {
    const body = await json(await stack.request(`/v1/ai/tasks/${taskId}`));
    if (body.data.data.status === status) return body;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`task ${taskId} never reached ${status}`);
}
