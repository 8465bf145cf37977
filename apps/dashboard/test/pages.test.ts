import fs from "node:fs";
import { RunQueue, closeRedis, createRedis } from "@llmq/queue";
import { eventually, json } from "@llmq/testkit";
import { FAST_AND_SLOW_MODELS, type TestStack, startTestStack } from "@llmq/stack";
import type { Browser } from "playwright-core";
import { type DashboardPage, launchChromium, openDashboard, signInWithKey, signInWithPassword, snapshot, taskRowLocator } from "./browser";
import { FAST_MODEL, SLOW_MODEL, closeChecked, completionRequest, newTenantKey, taskOf } from "./support";

let stack: TestStack;
let browser: Browser;
let dashboard: DashboardPage | undefined;

beforeAll(async () => {
  // Access tokens live five seconds here, so the password tests see the dashboard refresh them.
  [stack, browser] = await Promise.all([startTestStack({ models: FAST_AND_SLOW_MODELS, env: { ACCESS_TOKEN_TTL_SECONDS: "5" } }), launchChromium()]);
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});
afterEach(async () => {
  await closeChecked(dashboard);
  dashboard = undefined;
});

/** A new account (admin-created) and an access token for it, as `POST /v1/auth/login` gives. */
async function newAccount(email: string, password = "correct horse battery") {
  const created = await stack.request("/v1/admin/users", { method: "POST", json: { email, name: email.split("@")[0], password } });
  expect(created.status).toBe(201);
  const login = await fetch(`${stack.url}/v1/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email, password }) });
  expect(login.status).toBe(200);
  const tokens = await json(login);
  return { email, password, userId: tokens.user.id as string, accessToken: tokens.access_token as string };
}

describe("dashboard: accounts and pages", () => {
  it("lets a new user sign in with email and password and watch the README's example request complete live", async () => {
    const user = await newAccount("newcomer@example.com");
    dashboard = await openDashboard(browser, stack.url);
    const { page } = dashboard;
    await signInWithPassword(page, user.email, user.password);
    expect(await page.getByTestId("signed-in-as").textContent()).toBe(user.email);

    // The README's first request, sent with the user's own access token.
    const taskId = await stack.submitAsync(
      { messages: [{ role: "user", content: "Hello, have a good day!" }], configs: { model: "gemma-7b", max_tokens: 1024, top_k: 10, top_p: 0.9, temperature: 0 } },
      user.accessToken,
    );
    await page.locator(`tr[data-task-id="${taskId}"][data-status="COMPLETED"]`).waitFor({ timeout: 20_000 });

    // The five-second access token is replaced before it expires, and the pages go on working.
    const accessToken = () => page.evaluate<string>("JSON.parse(sessionStorage.getItem('llmq.session')).accessToken");
    const first = await accessToken();
    await eventually(async () => ((await accessToken()) !== first ? true : undefined), { timeoutMs: 15_000, what: "a refreshed access token" });
    await page.getByRole("link", { name: taskId }).click();
    await page.getByRole("heading", { name: `Task ${taskId}` }).waitFor();
    await page.getByText("Hello, have a good day!").waitFor();

    // The account page sums the user's usage as GET /v1/users/me does.
    await page.getByRole("link", { name: "Account" }).click();
    const usage = page.getByTestId("usage");
    await usage.waitFor();
    const task = await taskOf(stack, taskId); // as the admin: the test's own five-second token has expired by now
    expect(await usage.locator('[data-count="tasks"] dd').textContent()).toBe("1");
    expect(await usage.locator('[data-count="COMPLETED"] dd').textContent()).toBe("1");
    expect(await page.locator('tr[data-model="gemma-7b"] td[data-label="Completion tokens"]').textContent()).toBe(task.usage.completion_tokens.toLocaleString("en-US"));
    await snapshot(page, "account");
    await page.getByRole("link", { name: "Tasks", exact: true }).click();

    // The session survives a reload (sessionStorage), and signing out ends it. Reloaded just after a
    // refresh: a refresh cut off by the unload would lose its rotated token (the API then ends the session).
    const before = await accessToken();
    await eventually(async () => ((await accessToken()) !== before ? true : undefined), { timeoutMs: 15_000, what: "the next refresh" });
    await page.reload();
    await taskRowLocator(page, taskId).waitFor();
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    await page.reload();
    await page.getByRole("button", { name: "Sign in" }).waitFor();
  });

  it("opens sign-in on the API key the first time, then on the method last used", async () => {
    const user = await newAccount("remembers@example.com");
    dashboard = await openDashboard(browser, stack.url);
    const { page } = dashboard;
    const pressed = async () => ({
      key: await page.getByRole("button", { name: "API key" }).getAttribute("aria-pressed"),
      password: await page.getByRole("button", { name: "Email and password" }).getAttribute("aria-pressed"),
    });
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    expect(await pressed()).toEqual({ key: "true", password: "false" });
    await page.getByLabel("API key").waitFor();

    await signInWithPassword(page, user.email, user.password);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    expect(await pressed()).toEqual({ key: "false", password: "true" });
    await page.reload();
    await page.getByLabel("Email").waitFor();
    expect(await pressed()).toEqual({ key: "false", password: "true" });

    // Back to a key: the next visit opens on it.
    const { key } = await newTenantKey(stack, "remembers-key");
    await signInWithKey(page, key);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.reload();
    await page.getByLabel("API key").waitFor();
    expect(await pressed()).toEqual({ key: "true", password: "false" });
  });

  it("shows the admin everyone's tasks, with their owners, and filters them by user", async () => {
    const alice = await newTenantKey(stack, "alice-admin-view");
    const bob = await newTenantKey(stack, "bob-admin-view");
    const alicesTask = await stack.submitAsync(completionRequest("from alice"), alice.key);
    const bobsTask = await stack.submitAsync(completionRequest("from bob"), bob.key);
    dashboard = await openDashboard(browser, stack.url);
    const { page } = dashboard;
    await signInWithKey(page, stack.adminKey);
    expect(await page.getByTestId("signed-in-as").textContent()).toContain("(admin)");
    await taskRowLocator(page, alicesTask).waitFor();
    await taskRowLocator(page, bobsTask).waitFor();
    // Named once the user list has arrived; the title holds the name and the id.
    const ownerCell = taskRowLocator(page, alicesTask).locator('td[data-label="User"]');
    await eventually(async () => ((await ownerCell.textContent()) === "alice-admin-view" ? true : undefined), { what: "the owner's name" });
    expect(await ownerCell.getAttribute("title")).toBe(`alice-admin-view (${alice.userId})`);

    await page.goto(`/dashboard/tasks?user_id=${alice.userId}`);
    await taskRowLocator(page, alicesTask).waitFor();
    expect(await taskRowLocator(page, bobsTask).count()).toBe(0);
    expect(await page.locator("tbody tr").count()).toBe(1);
    const userFilter = page.getByRole("form", { name: "Filters" }).getByLabel("User");
    await eventually(async () => ((await userFilter.inputValue()) === alice.userId ? true : undefined), { what: "the user filter showing alice" });
    await snapshot(page, "tasks-admin");
  });

  it("retries a finished task as a new task", async () => {
    const { key } = await newTenantKey(stack, "retry");
    const taskId = await stack.submitAsync(completionRequest("again please"), key);
    await eventually(async () => ((await taskOf(stack, taskId, key)).status === "COMPLETED" ? true : undefined));
    dashboard = await openDashboard(browser, stack.url);
    const { page } = dashboard;
    await signInWithKey(page, key);
    await page.goto(`/dashboard/tasks/${taskId}`);
    await page.getByRole("button", { name: "Retry" }).click();
    await page.waitForURL((url) => url.pathname.startsWith("/dashboard/tasks/") && !url.pathname.endsWith(taskId));
    const retried = decodeURIComponent(new URL(page.url()).pathname.split("/").pop()!);
    await page.getByText("again please").waitFor();
    const task = await taskOf(stack, retried, key);
    expect(task.model).toBe(FAST_MODEL);
    expect((await taskOf(stack, taskId, key)).status).toBe("COMPLETED");
  });

  it("shows the admin each queue's counts and last hour, and pauses and resumes a queue", async () => {
    const done = await stack.submitAsync(completionRequest("count me"));
    await eventually(async () => ((await taskOf(stack, done)).status === "COMPLETED" ? true : undefined));
    dashboard = await openDashboard(browser, stack.url);
    const { page } = dashboard;
    await signInWithKey(page, stack.adminKey);
    await page.getByRole("link", { name: "Queues" }).click();
    const card = page.locator(`article[data-model="${FAST_MODEL}"]`);
    await card.waitFor();
    await card.locator("svg").first().waitFor();
    await snapshot(page, "queues");

    await card.getByRole("button", { name: "Pause" }).click();
    await card.getByText("PAUSED").waitFor();
    const paused = await stack.submitAsync(completionRequest("held back"));
    const behind = await stack.submitAsync(completionRequest("held back too"));
    // A paused queue keeps its jobs waiting.
    await eventually(async () => ((await card.locator('[data-count="waiting"] dd').textContent()) === "2" ? true : undefined), { timeoutMs: 15_000 });
    expect((await taskOf(stack, paused)).status).toBe("PENDING");

    // A waiting task's page says where it stands in line, as GET /v1/ai/tasks/{id} estimates it.
    expect((await taskOf(stack, behind)).queue_position).toBe(2);
    await page.goto(`/dashboard/tasks/${behind}`);
    await page.locator("[data-queue-place]", { hasText: "2nd in line" }).waitFor();
    await snapshot(page, "task-detail-waiting");
    await page.getByRole("link", { name: "Queues" }).click();

    await card.getByRole("button", { name: "Resume" }).click();
    await eventually(async () => ((await taskOf(stack, paused)).status === "COMPLETED" && (await taskOf(stack, behind)).status === "COMPLETED" ? true : undefined));
  });

  it("shows a user the models' queues", async () => {
    const { key } = await newTenantKey(stack, "queues-user");
    dashboard = await openDashboard(browser, stack.url);
    const { page } = dashboard;
    await signInWithKey(page, key);
    await page.getByRole("link", { name: "Queues" }).click();
    await page.locator(`article[data-model="${SLOW_MODEL}"] [data-count="waiting"]`).waitFor();
    expect(await page.getByRole("button", { name: "Pause" }).count()).toBe(0);
    await snapshot(page, "queues-user");
  });

  it("shows a batch's progress and counts, and downloads its results", async () => {
    const { key } = await newTenantKey(stack, "batches");
    const requests = ["one", "two", "three"].map((word) => ({ custom_id: word, ...completionRequest(`say ${word}`) }));
    const created = await stack.request("/v1/ai/batches", { method: "POST", json: { requests }, key });
    expect(created.status).toBe(200);
    const batchId = (await json(created)).data.data.batch_id as string;

    dashboard = await openDashboard(browser, stack.url);
    const { page } = dashboard;
    await signInWithKey(page, key);
    await page.getByRole("link", { name: "Batches" }).click();
    const card = page.locator(`article[data-batch-id="${batchId}"]`);
    await card.waitFor();
    // The page refreshes an unfinished batch by itself.
    await card.locator('[role="progressbar"][aria-valuenow="100"]').waitFor({ timeout: 20_000 });
    expect(await card.locator('[data-count="COMPLETED"] dd').textContent()).toBe("3");
    await snapshot(page, "batches");

    const [download] = await Promise.all([page.waitForEvent("download"), card.getByRole("button", { name: "Download results" }).click()]);
    expect(download.suggestedFilename()).toBe(`${batchId}-results.jsonl`);
    const lines = fs.readFileSync((await download.path())!, "utf8").trim().split("\n").map((line) => JSON.parse(line));
    expect(lines.map((line) => [line.custom_id, line.status])).toEqual([["one", "COMPLETED"], ["two", "COMPLETED"], ["three", "COMPLETED"]]);

    await card.getByRole("link", { name: "Tasks" }).click();
    await page.waitForURL(/batch_id=/);
    await eventually(async () => ((await page.locator("tbody tr").count()) === 3 ? true : undefined));
  });

  it("lists the user's OpenAI Batch API batches beside native ones, each with its dialect", async () => {
    const { key } = await newTenantKey(stack, "openai-batches");
    const native = await stack.request("/v1/ai/batches", { method: "POST", json: { requests: [completionRequest("native one")] }, key });
    expect(native.status).toBe(200);
    const nativeId = (await json(native)).data.data.batch_id as string;
    const openaiIds: string[] = [];
    for (const word of ["first", "second"]) {
      const line = { custom_id: word, method: "POST", url: "/v1/chat/completions", body: { model: FAST_MODEL, messages: [{ role: "user", content: `say ${word}` }], max_tokens: 8 } };
      const form = new FormData();
      form.append("purpose", "batch");
      form.append("file", new Blob([`${JSON.stringify(line)}\n`], { type: "application/jsonl" }), "input.jsonl");
      const file = await fetch(`${stack.url}/v1/files`, { method: "POST", headers: { authorization: `Bearer ${key}` }, body: form });
      expect(file.status).toBe(200);
      const created = await stack.request("/v1/batches", { method: "POST", key, json: { input_file_id: (await json(file)).id, endpoint: "/v1/chat/completions", completion_window: "24h" } });
      expect(created.status).toBe(200);
      openaiIds.push((await json(created)).id);
    }

    dashboard = await openDashboard(browser, stack.url);
    const { page } = dashboard;
    await signInWithKey(page, key);
    await page.getByRole("link", { name: "Batches" }).click();
    for (const [id, dialect] of [[nativeId, "flexstack"], [openaiIds[0]!, "openai"], [openaiIds[1]!, "openai"]] as const) {
      const card = page.locator(`article[data-batch-id="${id}"]`);
      await card.waitFor();
      expect(await card.getAttribute("data-dialect")).toBe(dialect);
    }
    expect(await page.locator("article[data-batch-id]").evaluateAll((cards) => cards.map((c) => c.getAttribute("data-batch-id")))).toEqual([openaiIds[1], openaiIds[0], nativeId]);
    const openaiCard = page.locator(`article[data-batch-id="${openaiIds[1]}"]`);
    await openaiCard.getByText("OpenAI Batch API").waitFor();
    await openaiCard.locator('[role="progressbar"][aria-valuenow="100"]').waitFor({ timeout: 20_000 });
    expect(await openaiCard.locator('[data-count="COMPLETED"] dd').textContent()).toBe("1");
    expect(await page.getByText("No batches yet").count()).toBe(0);
  });

  it("shows the admin who waits in each queue: a bar per tenant with its tiers, named by key or email", async () => {
    const keyOf = async (name: string) => {
      const res = await stack.request("/v1/admin/keys", { method: "POST", json: { name } });
      expect(res.status).toBe(201);
      return (await json(res)).data.data as { id: string; key: string; prefix: string };
    };
    const [flood, small] = [await keyOf("flooding tenant"), await keyOf("small tenant")];
    const user = await newAccount("waiting.user@example.com");
    const submit = async (key: string, tier: string, count: number) => {
      for (let i = 0; i < count; i++) await stack.submitAsync({ ...completionRequest(`wait ${tier} ${i}`, SLOW_MODEL), service_tier: tier }, key);
    };
    // Paused: every task stays waiting while the page is read.
    expect((await stack.request(`/v1/admin/queues/${SLOW_MODEL}/pause`, { method: "POST" })).status).toBe(200);
    try {
      await submit(flood.key, "default", 5);
      await submit(flood.key, "flex", 3);
      await submit(small.key, "priority", 1);
      await submit(user.accessToken, "default", 2);
      dashboard = await openDashboard(browser, stack.url);
      const { page } = dashboard;
      await signInWithKey(page, stack.adminKey);
      await page.getByRole("link", { name: "Queues" }).click();
      const tenants = page.locator(`article[data-model="${SLOW_MODEL}"] [data-testid="waiting-by-tenant"]`);
      await tenants.locator(`li[data-tenant="${flood.id}"]`).waitFor();
      // Largest first; each bar named, its tiers counted in words and drawn as segments.
      expect(await tenants.locator("li").evaluateAll((items) => items.map((li) => [li.getAttribute("data-tenant"), li.getAttribute("data-total")]))).toEqual([
        [flood.id, "8"],
        [`u:${user.userId}`, "2"],
        [small.id, "1"],
      ]);
      const floodRow = tenants.locator(`li[data-tenant="${flood.id}"]`);
      expect(await floodRow.locator(".tenant-name").textContent()).toBe("flooding tenant");
      expect(await floodRow.locator(".tenant-id").textContent()).toBe(flood.prefix);
      expect(await floodRow.getByTestId("tier-counts").textContent()).toBe("default 5 · flex 3");
      expect(await floodRow.locator("[data-tier]").evaluateAll((segments) => segments.map((s) => s.getAttribute("data-tier")))).toEqual(["default", "flex"]);
      const userRow = tenants.locator(`li[data-tenant="u:${user.userId}"]`);
      expect(await userRow.locator(".tenant-name").textContent()).toBe(user.email);
      expect(await tenants.locator(`li[data-tenant="${small.id}"]`).getByTestId("tier-counts").textContent()).toBe("priority 1");
      // The bars scale to the largest tenant: the flooding one fills its track, the small one an eighth of it.
      const widths = (tenant: string) => tenants.locator(`li[data-tenant="${tenant}"] [data-tier]`).evaluateAll((segments) => segments.map((s) => s.getAttribute("style")));
      expect(await widths(flood.id)).toEqual(["width: 62.5%;", "width: 37.5%;"]);
      expect(await widths(small.id)).toEqual(["width: 12.5%;"]);
      // A queue with nobody waiting says so.
      await page.locator(`article[data-model="${FAST_MODEL}"]`).getByText("Nobody is waiting.").waitFor();
      await snapshot(page, "queues-tenants");
    } finally {
      expect((await stack.request(`/v1/admin/queues/${SLOW_MODEL}/resume`, { method: "POST" })).status).toBe(200);
    }
  });

  // Last in the file: the 429 it reports keeps the slow model's upstream paused for a minute.
  it("shows the admin each model's upstreams: state badge, in flight, minute budgets, latency and errors", async () => {
    const redis = createRedis(stack.env.REDIS_URL!, { blocking: true });
    try {
      const queueOf = (model: string) => new RunQueue(redis, { prefix: stack.env.REDIS_PREFIX!, queueName: stack.api.deps.models.byId.get(model)!.queueName });
      // What workers report to the run queue: the fast upstream answered 200 times in 200 ms (the window of
      // latencies the run queue keeps, so the real reports of the tasks earlier tests ran drop out of it),
      // the slow one answered 429 (Retry-After 60 s).
      for (let i = 0; i < 200; i++) await queueOf(FAST_MODEL).upstreams.report({ name: "fast" }, { kind: "ok", latencyMs: 200 });
      await queueOf(SLOW_MODEL).upstreams.report({ name: "slow" }, { kind: "rate_limited", retryAfterMs: 60_000 });
    } finally {
      await closeRedis(redis);
    }
    dashboard = await openDashboard(browser, stack.url);
    const { page } = dashboard;
    await signInWithKey(page, stack.adminKey);
    await page.getByRole("link", { name: "Queues" }).click();
    const table = page.getByTestId("upstreams");
    const fast = table.locator(`tr[data-model="${FAST_MODEL}"][data-upstream="fast"]`);
    const slow = table.locator(`tr[data-model="${SLOW_MODEL}"][data-upstream="slow"]`);
    await slow.waitFor();
    expect(await fast.getAttribute("data-state")).toBe("ok");
    expect(await fast.locator(".badge").textContent()).toBe("OK");
    expect(await fast.locator('td[data-label="Latency p50 / p95"]').textContent()).toBe("200 ms / 200 ms");
    expect(await fast.locator('td[data-label="Errors (5 min)"]').textContent()).toBe("none");
    expect(await slow.getAttribute("data-state")).toBe("paused");
    expect(await slow.locator(".badge").textContent()).toBe("PAUSED");
    expect(await slow.locator('td[data-label="State"]').textContent()).toMatch(/^PAUSED rate limited until \d\d:\d\d:\d\d \(\d{1,2} s\)$/);
    expect(await slow.locator('td[data-label="In flight"]').textContent()).toBe("0");
    expect(await slow.locator('td[data-label="Errors (5 min)"]').textContent()).toBe("rate_limited 1");
    await snapshot(page, "queues-upstreams");
    // A user sees no upstreams (the route is the admin's).
    const { key } = await newTenantKey(stack, "no-upstreams");
    await closeChecked(dashboard);
    dashboard = await openDashboard(browser, stack.url);
    await signInWithKey(dashboard.page, key);
    await dashboard.page.getByRole("link", { name: "Queues" }).click();
    await dashboard.page.locator(`article[data-model="${SLOW_MODEL}"]`).waitFor();
    expect(await dashboard.page.getByTestId("upstreams").count()).toBe(0);
  });
});
