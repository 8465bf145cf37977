import { json } from "@llmq/testkit";
import type { TestStack } from "@llmq/testkit/stack";
import type { DashboardPage } from "./browser";

/** gemma-7b answers at once; llama-3.1-8b-instruct writes 40 tokens a second (FAST_AND_SLOW_MODELS). */
export const FAST_MODEL = "gemma-7b";
export const SLOW_MODEL = "llama-3.1-8b-instruct";

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
  const errors = [...dashboard.errors];
  await dashboard.close();
  expect(errors).toEqual([]);
}
