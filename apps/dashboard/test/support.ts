import fs from "node:fs";
import path from "node:path";
import { json } from "@llmq/testkit";
import { FAST_AND_SLOW_MODELS, type TestStack } from "@llmq/stack";
import { type DashboardPage, SCREENSHOT_DIR } from "./browser";

/** gemma-7b answers at once; llama-3.1-8b-instruct writes 40 tokens a second (FAST_AND_SLOW_MODELS). */
export const FAST_MODEL = "gemma-7b";
export const SLOW_MODEL = "llama-3.1-8b-instruct";
/** Eight tokens a second: a task of 32 tokens streams for four seconds, long enough to watch under load. */
export const STEADY_MODEL = "steady-model";
/** One token a second: a task that is surely still running when the test reaches for Cancel. */
export const CRAWL_MODEL = "crawl-model";
/** A model id as long as hosted providers' (the Tasks table must still fit 1280 px). */
export const LONG_NAMED_MODEL = "meta-llama-3.1-70b-instruct-turbo-long-context";

/**
 * The test stack's models. The simulated model writes 40 to 400 tokens depending on the prompt, so a
 * task's run time is bounded by its max_tokens from above only: slow providers make it long for sure.
 */
export const DASHBOARD_MODELS = {
  providers: {
    ...FAST_AND_SLOW_MODELS.providers,
    steady: { type: "simulated", first_token_ms: 5, tokens_per_second: 8 },
    crawl: { type: "simulated", first_token_ms: 5, tokens_per_second: 1 },
  },
  models: [
    ...FAST_AND_SLOW_MODELS.models,
    { id: STEADY_MODEL, provider: "steady", concurrency: 4 },
    { id: CRAWL_MODEL, provider: "crawl", concurrency: 4 },
    { id: LONG_NAMED_MODEL, provider: "fast", concurrency: 4 },
  ],
};

export function completionRequest(content: string, model = FAST_MODEL, maxTokens = 16) {
  return { messages: [{ role: "user", content }], configs: { model, max_tokens: maxTokens } };
}

/** A key of a new user (tenant), so each test sees only its own tasks. */
export async function newTenantKey(stack: TestStack, name: string): Promise<{ key: string; userId: string }> {
  const res = await stack.request("/v1/admin/keys", { method: "POST", json: { name } });
  expect(res.status).toBe(201);
  const data = (await json(res)).data.data;
  return { key: data.key, userId: data.user_id };
}

/** The task as the API has it now. */
export async function taskOf(stack: TestStack, taskId: string, key?: string) {
  const res = await stack.request(`/v1/ai/tasks/${taskId}`, { key });
  expect(res.status).toBe(200);
  return (await json(res)).data.data;
}

/** Fails the test on any console error or uncaught exception the page produced, then closes it. */
export async function closeChecked(dashboard: DashboardPage | undefined): Promise<void> {
  if (!dashboard) return;
  // The page as the test left it, to see what a failing test saw.
  const name = (expect.getState().currentTestName ?? "test").replace(/[^a-z0-9]+/gi, "-").slice(0, 80);
  const dir = path.join(SCREENSHOT_DIR, "last-state");
  fs.mkdirSync(dir, { recursive: true });
  await dashboard.page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true }).catch(() => undefined);
  const errors = [...dashboard.errors];
  await dashboard.close();
  expect(errors).toEqual([]);
}
