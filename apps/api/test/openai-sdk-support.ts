// Shared by the openai-sdk-*.test.ts suites: the official `openai` package pointed at a test stack.
import { json } from "@llmq/testkit";
import type { TestStack } from "@llmq/stack";
import OpenAI, { APIError } from "openai";

/** The official client, changed only in baseURL and apiKey; retries off so every error reaches the test. */
export function sdkClient(stack: TestStack, apiKey = stack.adminKey): OpenAI {
  return new OpenAI({ baseURL: `${stack.url}/v1`, apiKey, maxRetries: 0 });
}

/** Collects the task id (`x-task-id`) of every call a suite makes, to find them in the history later. */
export class TaskIds {
  readonly ids: string[] = [];

  /** Records the call's task id and hands back its parsed body. */
  async of<T>(call: { withResponse(): Promise<{ data: T; response: Response }> }): Promise<T> {
    const { data, response } = await call.withResponse();
    this.ids.push(taskIdOf(response));
    return data;
  }
}

export function taskIdOf(response: Response): string {
  const id = response.headers.get("x-task-id");
  expect(id).toMatch(/^[0-9a-f]{32}$/);
  return id!;
}

/** Every task id in the admin's history (`GET /v1/ai/tasks`), newest first. */
export async function historyIds(stack: TestStack): Promise<string[]> {
  const res = await stack.request("/v1/ai/tasks?limit=200");
  expect(res.status).toBe(200);
  const body = await json(res);
  expect(body.data.data.has_more).toBe(false);
  return (body.data.data.tasks as { task_id: string }[]).map((task) => task.task_id);
}

/** A task as the Flexstack API shows it (`GET /v1/ai/tasks/{id}`). */
export async function flexTask(stack: TestStack, taskId: string) {
  const res = await stack.request(`/v1/ai/tasks/${taskId}`);
  expect(res.status).toBe(200);
  return (await json(res)).data.data;
}

/** Runs `call`, which must fail, and returns the SDK's error for the test to inspect. */
export async function sdkError(call: () => Promise<unknown>): Promise<APIError> {
  try {
    await call();
  } catch (error) {
    expect(error).toBeInstanceOf(APIError);
    return error as APIError;
  }
  throw new Error("the call succeeded; an API error was expected");
}
