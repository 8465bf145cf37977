import { eventually, json } from "@llmq/testkit";
import { FAST_AND_SLOW_MODELS, type TestStack, startTestStack } from "@llmq/stack";

const FAST_MODEL = "gemma-7b";
// 40 tokens a second: an 80-token task runs for about two seconds.
const SLOW_MODEL = "llama-3.1-8b-instruct";

interface ListedTask {
  task_id: string;
  status: string;
  model: string;
  created_at: string;
  queue_name: string;
  percent: number;
}

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ models: FAST_AND_SLOW_MODELS });
});
afterAll(async () => {
  await stack.close();
});

/** A key of a new user, so each test sees only the tasks it submits. */
async function newTenantKey(name: string): Promise<string> {
  const res = await stack.request("/v1/admin/keys", { method: "POST", json: { name } });
  expect(res.status).toBe(201);
  return (await json(res)).data.data.key;
}

function completionRequest(content: string, model = FAST_MODEL, maxTokens = 16) {
  return { messages: [{ role: "user", content }], configs: { model, max_tokens: maxTokens } };
}

async function submit(key: string, body: unknown, query = "?async=true") {
  const res = await stack.request(`/v1/ai/text_completion${query}`, { method: "POST", json: body, key });
  expect(res.status).toBe(query.includes("async") ? 202 : 200);
  return (await json(res)).data.data;
}

async function history(key: string, query: string) {
  const res = await stack.request(`/v1/ai/tasks${query}`, { key });
  expect(res.status).toBe(200);
  const body = await json(res);
  expect(body.status).toBe("success");
  return body.data.data as { tasks: ListedTask[]; next_cursor: string | null; has_more: boolean };
}

const idsOf = (tasks: { task_id: string }[]) => tasks.map((task) => task.task_id);

/** Newest first, ties broken by id, as the history promises. */
function newestFirst<T extends { task_id: string; created_at: string }>(tasks: T[]): T[] {
  return [...tasks].sort((a, b) => b.created_at.localeCompare(a.created_at) || b.task_id.localeCompare(a.task_id));
}

/** The same instant written with a UTC offset, e.g. `2025-01-01T12:30:00.123+02:30`. */
function withOffset(iso: string, offsetMinutes: number): string {
  const shifted = new Date(new Date(iso).getTime() + offsetMinutes * 60_000).toISOString().slice(0, -1);
  const sign = offsetMinutes < 0 ? "-" : "+";
  const abs = Math.abs(offsetMinutes);
  return `${shifted}${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

describe("GET /v1/ai/tasks", () => {
  it("pages through a user's tasks newest first with cursors: no duplicates, no gaps", async () => {
    const key = await newTenantKey("pager");
    const submitted: { task_id: string; created_at: string }[] = [];
    for (let i = 0; i < 25; i++) submitted.push(await submit(key, completionRequest(`task number ${i}`)));
    // Submitted one after another, so creation times never go backwards.
    const times = submitted.map((task) => task.created_at);
    expect([...times].sort()).toEqual(times);
    const expected = idsOf(newestFirst(submitted));

    const first = await history(key, "?limit=10");
    expect(first.tasks).toHaveLength(10);
    expect(first.has_more).toBe(true);
    expect(first.next_cursor).toEqual(expect.any(String));
    // A task submitted between two pages is newer than the cursor: later pages are not shifted by it.
    const newcomer = await submit(key, completionRequest("a newcomer"));

    const second = await history(key, `?limit=10&cursor=${encodeURIComponent(first.next_cursor!)}`);
    expect(second.tasks).toHaveLength(10);
    expect(second.has_more).toBe(true);
    const third = await history(key, `?limit=10&cursor=${encodeURIComponent(second.next_cursor!)}`);
    expect(third.tasks).toHaveLength(5);
    expect(third.has_more).toBe(false);
    expect(third.next_cursor).toBeNull();

    const listed = [...first.tasks, ...second.tasks, ...third.tasks];
    expect(idsOf(listed)).toEqual(expected);
    expect(new Set(idsOf(listed)).size).toBe(25);
    expect(listed.every((task) => task.model === FAST_MODEL && task.queue_name === "llm_gemma_7b_queue")).toBe(true);

    // Starting over shows the newcomer first.
    const fresh = await history(key, "?limit=10");
    expect(fresh.tasks[0]!.task_id).toBe(newcomer.task_id);
    expect(idsOf(fresh.tasks.slice(1))).toEqual(expected.slice(0, 9));

    // A limit that divides the total exactly still ends with has_more false.
    const all = await history(key, "?limit=26");
    expect(all.tasks).toHaveLength(26);
    expect(all.has_more).toBe(false);
    expect(all.next_cursor).toBeNull();
  });

  it("shows a user only their own tasks, and the admin everyone's", async () => {
    const alice = await newTenantKey("alice");
    const bob = await newTenantKey("bob");
    const mine = await submit(alice, completionRequest("alice's task"));
    const theirs = await submit(bob, completionRequest("bob's task"));
    expect(idsOf((await history(alice, "")).tasks)).toEqual([mine.task_id]);
    expect(idsOf((await history(bob, "")).tasks)).toEqual([theirs.task_id]);
    const admin = idsOf((await history(stack.adminKey, "?limit=200")).tasks);
    expect(admin).toEqual(expect.arrayContaining([mine.task_id, theirs.task_id]));
  });

  it("filters by status and by model", async () => {
    const key = await newTenantKey("filters");
    const completed = [];
    for (let i = 0; i < 3; i++) completed.push(await submit(key, completionRequest(`done ${i}`), ""));
    expect(completed.every((task) => task.status === "COMPLETED")).toBe(true);
    const cancelled = [];
    for (let i = 0; i < 2; i++) {
      const task = await submit(key, completionRequest(`stopped ${i}`, SLOW_MODEL, 400));
      const res = await stack.request(`/v1/ai/tasks/${task.task_id}/cancel`, { method: "POST", key });
      expect((await json(res)).data.data.status).toBe("CANCELLED");
      cancelled.push(task);
    }

    const byCompleted = await history(key, "?status=COMPLETED");
    expect(idsOf(byCompleted.tasks)).toEqual(idsOf(newestFirst(completed)));
    expect(byCompleted.tasks.every((task) => task.status === "COMPLETED" && task.percent === 100)).toBe(true);
    const byCancelled = await history(key, "?status=CANCELLED");
    expect(idsOf(byCancelled.tasks)).toEqual(idsOf(newestFirst(cancelled)));
    expect((await history(key, "?status=FAILED")).tasks).toEqual([]);

    const byModel = await history(key, `?model=${SLOW_MODEL}`);
    expect(idsOf(byModel.tasks)).toEqual(idsOf(newestFirst(cancelled)));
    expect(byModel.tasks.every((task) => task.queue_name === "llm_llama_3_1_8b_instruct_queue")).toBe(true);
    expect(idsOf((await history(key, `?model=${FAST_MODEL}&status=COMPLETED`)).tasks)).toEqual(idsOf(newestFirst(completed)));
    expect((await history(key, `?model=${FAST_MODEL}&status=CANCELLED`)).tasks).toEqual([]);
    expect((await history(key, "?model=no-such-model")).tasks).toEqual([]);

    // Filters and pagination together.
    const page = await history(key, "?status=COMPLETED&limit=2");
    expect(page.tasks).toHaveLength(2);
    expect(page.has_more).toBe(true);
    const rest = await history(key, `?status=COMPLETED&limit=2&cursor=${encodeURIComponent(page.next_cursor!)}`);
    expect(idsOf([...page.tasks, ...rest.tasks])).toEqual(idsOf(newestFirst(completed)));
    expect(rest.has_more).toBe(false);
  });

  it("filters by creation time given as ISO 8601 with any offset (from inclusive, to exclusive)", async () => {
    const key = await newTenantKey("dates");
    const tasks: { task_id: string; created_at: string }[] = [];
    for (let i = 0; i < 5; i++) tasks.push(await submit(key, completionRequest(`dated ${i}`)));
    const from = tasks[1]!.created_at;
    const to = tasks[3]!.created_at;
    const expected = idsOf(newestFirst(tasks.filter((task) => task.created_at >= from && task.created_at < to)));
    expect(expected).toContain(tasks[1]!.task_id);
    expect(expected).not.toContain(tasks[3]!.task_id);

    for (const [fromOffset, toOffset] of [
      [0, 0],
      [330, -180],
      [-480, 60],
    ] as const) {
      const query = `?created_from=${encodeURIComponent(withOffset(from, fromOffset))}&created_to=${encodeURIComponent(withOffset(to, toOffset))}`;
      expect(idsOf((await history(key, query)).tasks)).toEqual(expected);
    }
    const since = await history(key, `?created_from=${encodeURIComponent(withOffset(to, 120))}`);
    expect(idsOf(since.tasks)).toEqual(idsOf(newestFirst(tasks.filter((task) => task.created_at >= to))));
    const until = await history(key, `?created_to=${encodeURIComponent(withOffset(from, -60))}`);
    expect(idsOf(until.tasks)).toEqual(idsOf(newestFirst(tasks.filter((task) => task.created_at < from))));
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await history(key, `?created_from=${encodeURIComponent(future)}`)).tasks).toEqual([]);
  });

  it("rejects a bad cursor, status, limit or date with a 400 naming the parameter", async () => {
    const garbageCursor = Buffer.from("yesterday|abc").toString("base64url");
    const cases: [string, string][] = [
      ["?cursor=not-a-cursor", "cursor"],
      [`?cursor=${garbageCursor}`, "cursor"],
      ["?status=DONE", "status"],
      ["?status=completed", "status"],
      ["?limit=0", "limit"],
      ["?limit=201", "limit"],
      ["?limit=ten", "limit"],
      ["?limit=2.5", "limit"],
      ["?created_from=2024-01-01", "created_from"],
      ["?created_to=2024-01-01T10:00:00", "created_to"],
    ];
    for (const [query, param] of cases) {
      const res = await stack.request(`/v1/ai/tasks${query}`);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      const body = await json(res);
      expect(body.status).toBe("error");
      expect(body.data).toBeNull();
      expect({ query, param: body.errors[0].param, code: body.errors[0].code }).toEqual({ query, param, code: "invalid_request" });
      expect(body.error_description).toBe(body.errors[0].message);
    }
  });
});

describe("GET /v1/ai/models", () => {
  it("lists every model with its queue, task type, provider, concurrency and queue counts", async () => {
    const key = await newTenantKey("models");
    await submit(key, completionRequest("count me"), "");
    const res = await stack.request("/v1/ai/models", { key });
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.status).toBe("success");
    const rows = body.data.data;
    expect(rows.map((row: { model: string }) => row.model)).toEqual([FAST_MODEL, SLOW_MODEL]);
    expect(rows[0]).toMatchObject({
      model: FAST_MODEL,
      queue_name: "llm_gemma_7b_queue",
      task_type: "LLM-GEMMA-7B",
      provider: "simulated",
      upstream_model: FAST_MODEL,
      concurrency: 8,
      max_tokens: 4096,
    });
    expect(rows[1]).toMatchObject({
      model: SLOW_MODEL,
      queue_name: "llm_llama_3_1_8b_instruct_queue",
      task_type: "LLM-LLAMA-3-1-8B-INSTRUCT",
      provider: "simulated",
      concurrency: 4,
    });
    for (const row of rows) {
      expect(Object.keys(row.queue).sort()).toEqual(["active", "completed", "delayed", "failed", "waiting"]);
      expect(Object.values(row.queue).every((n) => Number.isInteger(n) && (n as number) >= 0)).toBe(true);
    }
    expect(rows[0].queue.completed).toBeGreaterThanOrEqual(1);
  });
});

describe("POST /v1/ai/text_completion?wait=", () => {
  it("answers with the current state when the wait runs out, and the task still completes", async () => {
    const key = await newTenantKey("waiter");
    const answers = await Promise.all(
      ["0", "0.2"].map(async (wait) => {
        const res = await stack.request(`/v1/ai/text_completion?wait=${wait}`, {
          method: "POST",
          key,
          json: completionRequest(`Take your time (${wait}).`, SLOW_MODEL, 80),
        });
        return { res, body: await json(res) };
      }),
    );
    for (const { res, body } of answers) {
      expect(res.status).toBe(200);
      const task = body.data.data;
      expect(["PENDING", "RUNNING"]).toContain(task.status);
      expect(task.percent).toBeLessThan(100);
      expect(body.data.is_success).toBe(true);
      expect(res.headers.get("x-task-id")).toBe(task.task_id);

      const done = await eventually(
        async () => {
          const polled = await json(await stack.request(`/v1/ai/tasks/${task.task_id}`, { key }));
          return polled.data.data.status === "COMPLETED" ? polled.data.data : undefined;
        },
        { what: "the task to complete after the request gave up waiting" },
      );
      expect(done.percent).toBe(100);
      // Simulated tokens are words: the whole answer (at most 80 of them) was written.
      expect(done.usage.completion_tokens).toBe(done.response.split(" ").length);
      expect(done.usage.completion_tokens).toBeLessThanOrEqual(80);
    }
  });
});
