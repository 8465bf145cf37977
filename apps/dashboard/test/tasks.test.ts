import { eventually, json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import type { Browser } from "playwright-core";
import { type DashboardPage, launchChromium, openDashboard, signInWithKey, snapshot, taskRowLocator } from "./browser";
import { CRAWL_MODEL, DASHBOARD_MODELS, FAST_MODEL, LONG_NAMED_MODEL, SLOW_MODEL, STEADY_MODEL, closeChecked, completionRequest, newTenantKey, taskOf } from "./support";

let stack: TestStack;
let browser: Browser;
let dashboard: DashboardPage | undefined;

beforeAll(async () => {
  [stack, browser] = await Promise.all([startTestStack({ models: DASHBOARD_MODELS }), launchChromium()]);
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});
afterEach(async () => {
  await closeChecked(dashboard);
  dashboard = undefined;
});

describe("dashboard: tasks", () => {
  it("signs in with an API key and shows a task submitted through the API move to COMPLETED without a reload", async () => {
    const { key } = await newTenantKey(stack, "live-list");
    dashboard = await openDashboard(browser, stack.url);
    const { page } = dashboard;
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    await snapshot(page, "sign-in");
    await signInWithKey(page, key);
    await page.getByText("No tasks yet.").waitFor();
    // Set in the page: a reload would lose it.
    await page.evaluate("window.stillTheSamePage = true");
    await page.locator('[data-feed="live"]').waitFor();

    // Four seconds of generation: the row is seen PENDING or RUNNING first.
    const taskId = await stack.submitAsync(completionRequest("Watch me finish", STEADY_MODEL, 32), key);
    const row = taskRowLocator(page, taskId);
    await row.waitFor();
    expect(["PENDING", "RUNNING"]).toContain(await row.getAttribute("data-status"));
    await page.locator(`tr[data-task-id="${taskId}"][data-status="COMPLETED"]`).waitFor({ timeout: 20_000 });
    expect(await row.getByRole("progressbar").getAttribute("aria-valuenow")).toBe("100");
    expect(await page.evaluate("window.stillTheSamePage")).toBe(true);

    // The row's figures are the API's.
    const task = await taskOf(stack, taskId, key);
    expect(await row.locator('td[data-label="Tokens"]').textContent()).toBe(String(task.usage.completion_tokens));
    expect(await row.locator('td[data-label="Model"]').textContent()).toBe(STEADY_MODEL);
    expect(await row.locator('td[data-label="API"]').textContent()).toBe("Task API");
    for (const column of ["Queue wait", "TTFT", "Duration", "Tokens/s"]) expect(await row.locator(`td[data-label="${column}"]`).textContent()).not.toBe("—");
    await snapshot(page, "tasks");
  });

  it("filters by model and status, and the filters live in the address", async () => {
    const { key } = await newTenantKey(stack, "filters");
    const fast = await stack.submitAsync(completionRequest("fast one"), key);
    const slow = await stack.submitAsync(completionRequest("slow one", SLOW_MODEL, 8), key);
    await eventually(async () => ((await taskOf(stack, slow, key)).status === "COMPLETED" && (await taskOf(stack, fast, key)).status === "COMPLETED" ? true : undefined));
    const cancelled = await stack.submitAsync(completionRequest("cancel me", CRAWL_MODEL, 2000), key);
    expect((await stack.request(`/v1/ai/tasks/${cancelled}/cancel`, { method: "POST", key })).status).toBe(200);

    dashboard = await openDashboard(browser, stack.url);
    const { page } = dashboard;
    await signInWithKey(page, key);
    for (const id of [fast, slow, cancelled]) await taskRowLocator(page, id).waitFor();

    const filters = page.getByRole("form", { name: "Filters" });
    await filters.getByLabel("Model").selectOption(FAST_MODEL);
    await filters.getByRole("button", { name: "Apply" }).click();
    await page.waitForURL(/model=gemma-7b/);
    await taskRowLocator(page, slow).waitFor({ state: "detached" });
    expect(await page.locator("tbody tr").count()).toBe(1);
    await taskRowLocator(page, fast).waitFor();

    await page.goto(`/dashboard/tasks?status=CANCELLED`);
    await taskRowLocator(page, cancelled).waitFor();
    expect(await page.locator("tbody tr").count()).toBe(1);
    expect(await page.getByRole("form", { name: "Filters" }).getByLabel("Status").inputValue()).toBe("CANCELLED");
    await snapshot(page, "tasks-filtered");
  });

  it("pages back through older tasks with the cursor", async () => {
    const { key } = await newTenantKey(stack, "pages");
    const ids: string[] = [];
    for (let i = 0; i < 55; i++) ids.push(await stack.submitAsync(completionRequest(`task ${i}`), key));
    dashboard = await openDashboard(browser, stack.url);
    const { page } = dashboard;
    await signInWithKey(page, key);
    // Newest first: the last five submitted are on the first page, the first five are not.
    await taskRowLocator(page, ids[54]!).waitFor();
    expect(await page.locator("tbody tr").count()).toBe(50);
    expect(await taskRowLocator(page, ids[0]!).count()).toBe(0);
    await page.getByRole("button", { name: "Load older tasks" }).click();
    await taskRowLocator(page, ids[0]!).waitFor();
    expect(await page.locator("tbody tr").count()).toBe(55);
    expect(await page.getByRole("button", { name: "Load older tasks" }).count()).toBe(0);
  });

  it("can be used from the keyboard alone", async () => {
    const { key } = await newTenantKey(stack, "keyboard");
    const taskId = await stack.submitAsync(completionRequest("by keyboard"), key);
    dashboard = await openDashboard(browser, stack.url);
    const { page } = dashboard;
    await page.getByRole("button", { name: "API key" }).focus();
    await page.keyboard.press("Enter");
    // The key field takes the focus as it appears.
    await page.keyboard.type(key);
    await page.keyboard.press("Enter");
    await taskRowLocator(page, taskId).waitFor();
    // Tab through the page until the task's link has the focus, then open it.
    const focusedText = () => page.evaluate<string>("document.activeElement?.textContent ?? ''");
    for (let presses = 0; (await focusedText()) !== taskId; presses++) {
      expect(presses).toBeLessThan(40);
      await page.keyboard.press("Tab");
    }
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: `Task ${taskId}` }).waitFor();
    await page.getByText("by keyboard").waitFor();
  });

  it("opens a task from a click anywhere on its row, or Enter on the focused row", async () => {
    const { key } = await newTenantKey(stack, "row-click");
    const taskId = await stack.submitAsync(completionRequest("open me by my row"), key);
    dashboard = await openDashboard(browser, stack.url);
    const { page } = dashboard;
    await signInWithKey(page, key);
    const row = taskRowLocator(page, taskId);
    await row.waitFor();
    // The Model cell: no link in it.
    await row.locator('td[data-label="Model"]').click();
    await page.getByRole("heading", { name: `Task ${taskId}` }).waitFor();
    await page.goBack();
    await row.waitFor();
    await row.focus();
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: `Task ${taskId}` }).waitFor();
    await page.getByText("open me by my row").waitFor();
  });

  it("fits the Tasks table in 1280 px without a horizontal scroll, admin columns included", async () => {
    // The admin sees one more column (User); a long model id, a long email, and (until the users' names
    // are in) each owner shown as its id are the widest a row gets: each is cut, its title holding it whole.
    const email = `someone.with.a.rather.long.address.${Date.now()}@tenants.example.com`;
    const created = await stack.request("/v1/admin/users", { method: "POST", json: { name: "long-email", email, password: "a long enough password" } });
    expect(created.status).toBe(201);
    const userId = (await json(created)).data.data.id as string;
    const keyed = await stack.request("/v1/admin/keys", { method: "POST", json: { name: "long-email", user_id: userId } });
    expect(keyed.status).toBe(201);
    const tenantKey = (await json(keyed)).data.data.key as string;
    const taskIds = [await stack.submitAsync(completionRequest("a wide row", LONG_NAMED_MODEL, 8)), await stack.submitAsync(completionRequest("a wide owner"), tenantKey)];
    for (const taskId of taskIds) await eventually(async () => ((await taskOf(stack, taskId)).status === "COMPLETED" ? true : undefined), { timeoutMs: 20_000 });
    const overflowOf = async (page: DashboardPage["page"]) => {
      for (const taskId of taskIds) await page.locator(`tr[data-task-id="${taskId}"][data-status="COMPLETED"]`).waitFor();
      expect(await page.evaluate<number>("window.innerWidth")).toBe(1280);
      return page.evaluate<{ table: number; page: number }>(
        "(() => { const wrap = document.querySelector('.table-wrap'); return { table: wrap.scrollWidth - wrap.clientWidth, page: document.documentElement.scrollWidth - document.documentElement.clientWidth }; })()",
      );
    };
    const ownerCell = (page: DashboardPage["page"]) => page.locator(`tr[data-task-id="${taskIds[1]}"] td[data-label="User"]`);

    dashboard = await openDashboard(browser, stack.url);
    await signInWithKey(dashboard.page, stack.adminKey);
    // The owner's email, cut to the column; the cell's title holds it whole, with the id.
    await ownerCell(dashboard.page).getByText(email).waitFor();
    expect(await ownerCell(dashboard.page).getAttribute("title")).toBe(`${email} (${userId})`);
    expect(await dashboard.page.locator(`tr[data-task-id="${taskIds[0]}"] td[data-label="Model"]`).getAttribute("title")).toBe(LONG_NAMED_MODEL);
    expect(await overflowOf(dashboard.page)).toEqual({ table: 0, page: 0 });
    await closeChecked(dashboard);
    dashboard = undefined;

    // Before the users' list is in (here: it answers none), owners show as their ids.
    dashboard = await openDashboard(browser, stack.url);
    await dashboard.page.route("**/v1/admin/users", (route) => route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify({ data: { data: [] } }) }));
    await signInWithKey(dashboard.page, stack.adminKey);
    await ownerCell(dashboard.page).getByText(userId).waitFor();
    expect(await overflowOf(dashboard.page)).toEqual({ table: 0, page: 0 });
  });

  it("opens a task and shows its text arriving token by token, then its timings", async () => {
    const { key } = await newTenantKey(stack, "detail");
    dashboard = await openDashboard(browser, stack.url);
    const { page } = dashboard;
    await signInWithKey(page, key);
    // 32 tokens at 8 tokens/s: four seconds of streaming to watch.
    const taskId = await stack.submitAsync(completionRequest("Tell me a long story", STEADY_MODEL, 32), key);
    await taskRowLocator(page, taskId).getByRole("link").click();
    await page.getByRole("heading", { name: `Task ${taskId}` }).waitFor();
    await page.getByText("Tell me a long story").waitFor();

    const response = page.getByTestId("response");
    const lengths: number[] = [];
    await eventually(async () => {
      const status = await page.locator(".facts .badge").first().textContent();
      const text = (await response.textContent()) ?? "";
      if (status === "RUNNING" && !text.startsWith("waiting")) lengths.push(text.length);
      // Seen the text grow at least twice while the task was still running.
      return new Set(lengths).size >= 3 ? true : undefined;
    }, { timeoutMs: 20_000, intervalMs: 100, what: "streamed text growing while RUNNING" });

    await page.locator(".facts .badge", { hasText: "COMPLETED" }).waitFor({ timeout: 20_000 });
    const task = await taskOf(stack, taskId, key);
    expect(await response.textContent()).toBe(task.response);
    for (const timing of ["queue_wait", "ttft", "duration"]) expect(await page.locator(`[data-timing="${timing}"]`).textContent()).not.toBe("—");
    expect(await page.locator(".waterfall [data-segment]").count()).toBe(3);
    await snapshot(page, "task-detail");
  });

  it("shows the admin what served a task (model via upstream); its owner sees no upstream", async () => {
    const { key } = await newTenantKey(stack, "served-by");
    const taskId = await stack.submitAsync(completionRequest("who served this?"), key);
    await eventually(async () => ((await taskOf(stack, taskId, key)).status === "COMPLETED" ? true : undefined));
    dashboard = await openDashboard(browser, stack.url);
    await signInWithKey(dashboard.page, stack.adminKey);
    await dashboard.page.goto(`/dashboard/tasks/${taskId}`);
    const servedBy = dashboard.page.locator("[data-served-by]");
    await servedBy.waitFor();
    // FAST_MODEL's models-file entry is `provider: fast` alone: one upstream named after its provider.
    expect(await servedBy.textContent()).toBe(`${FAST_MODEL} via fast`);
    expect(await dashboard.page.locator(".facts div", { has: servedBy }).locator("dt").textContent()).toBe("Served by");

    await closeChecked(dashboard);
    dashboard = await openDashboard(browser, stack.url);
    await signInWithKey(dashboard.page, key);
    await dashboard.page.goto(`/dashboard/tasks/${taskId}`);
    await dashboard.page.getByText("who served this?").waitFor();
    expect(await dashboard.page.locator("[data-served-by]").count()).toBe(0);
    expect(await dashboard.page.getByText("Served by").count()).toBe(0);
  });

  it("cancels a running task from its page", async () => {
    const { key } = await newTenantKey(stack, "cancel");
    // At least 40 tokens at one a second: still running long after the test has clicked Cancel.
    const taskId = await stack.submitAsync(completionRequest("never finish", CRAWL_MODEL, 2000), key);
    await eventually(async () => ((await taskOf(stack, taskId, key)).status === "RUNNING" ? true : undefined));
    dashboard = await openDashboard(browser, stack.url);
    const { page } = dashboard;
    await signInWithKey(page, key);
    await page.goto(`/dashboard/tasks/${taskId}`);
    // Text streaming in: the page is following the running task.
    await eventually(
      async () => {
        const text = (await page.getByTestId("response").textContent()) ?? "";
        return text.length > 0 && !text.startsWith("waiting for the first token") ? true : undefined;
      },
      { what: "streamed text" },
    );
    await page.getByRole("button", { name: "Cancel" }).click();
    await page.locator(".facts .badge", { hasText: "CANCELLED" }).waitFor();
    expect((await taskOf(stack, taskId, key)).status).toBe("CANCELLED");
    await page.getByRole("button", { name: "Retry" }).waitFor();
  });

  it("never shows a user another user's tasks", async () => {
    const alice = await newTenantKey(stack, "alice");
    const bob = await newTenantKey(stack, "bob");
    const alicesTask = await stack.submitAsync(completionRequest("alice's secret"), alice.key);
    dashboard = await openDashboard(browser, stack.url);
    const { page } = dashboard;
    await signInWithKey(page, bob.key);
    const bobsTask = await stack.submitAsync(completionRequest("bob's own", SLOW_MODEL, 8), bob.key);
    const late = await stack.submitAsync(completionRequest("alice again"), alice.key);
    await page.locator(`tr[data-task-id="${bobsTask}"][data-status="COMPLETED"]`).waitFor({ timeout: 20_000 });
    // Alice's second task was submitted before Bob's finished: had the feed leaked it, it would be here by now.
    expect(await page.locator("tbody tr").count()).toBe(1);
    await page.reload();
    await taskRowLocator(page, bobsTask).waitFor();
    expect(await page.locator("tbody tr").count()).toBe(1);
    for (const id of [alicesTask, late]) expect(await taskRowLocator(page, id).count()).toBe(0);
  });
});
