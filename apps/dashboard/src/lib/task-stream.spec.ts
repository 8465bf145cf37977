import { describe, expect, it } from "vitest";
import type { TaskProgressEvent } from "@llmq/client";
import type { TaskEnvelopeData } from "@llmq/contract";
import { type LiveTask, applyTaskEvent } from "./task-stream";
import { taskRow } from "./testing";

const pending = taskRow({ status: "PENDING", percent: 0, response: "", attempts: 0, started_at: null, first_token_at: null, completed_at: null, usage: { prompt_tokens: null, completion_tokens: 0, total_tokens: null } });
const envelope = (data = pending): TaskEnvelopeData => ({ is_success: true, data, configs: { model: "gemma-7b", max_new_tokens: 512, task_type: "LLM-GEMMA-7B", queue_name: "llm_gemma_7b_queue", messages: [] } });
const start: LiveTask = { envelope: envelope(), text: "", attempt: 0, done: false };
// Events as @llmq/client yields them (parsed); a partial status or token is enough for what is applied.
const event = (name: string, data: unknown, id?: string) => ({ event: name, data, id }) as unknown as TaskProgressEvent;

describe("applyTaskEvent", () => {
  it("builds the response token by token, then takes the final envelope", () => {
    let live = applyTaskEvent(start, event("status", { status: "RUNNING", attempt: 1 }));
    live = applyTaskEvent(live, event("token", { delta: "Hel", percent: 10, tokens: 1 }));
    live = applyTaskEvent(live, event("token", { delta: "lo", percent: 20, tokens: 2 }));
    expect(live.text).toBe("Hello");
    expect(live.envelope.data).toMatchObject({ status: "RUNNING", percent: 20, attempts: 1, usage: { completion_tokens: 2 } });
    expect(live.done).toBe(false);
    const final = applyTaskEvent(live, event("result", { data: envelope(taskRow({ response: "Hello!" })) }));
    expect(final).toMatchObject({ text: "Hello!", done: true, envelope: { data: { status: "COMPLETED", percent: 100 } } });
  });
  it("drops the text of an attempt that is run again", () => {
    let live = applyTaskEvent(start, event("status", { status: "RUNNING", attempt: 1 }));
    live = applyTaskEvent(live, event("token", { delta: "partial", percent: 5, tokens: 1 }));
    live = applyTaskEvent(live, event("status", { status: "PENDING", attempt: 1, error: { code: "upstream_error", message: "503" } }));
    expect(live.envelope.data.error).toEqual({ code: "upstream_error", message: "503" });
    live = applyTaskEvent(live, event("status", { status: "RUNNING", attempt: 2 }));
    expect(live.text).toBe("");
    expect(live.envelope.data.attempts).toBe(2);
  });
  it("ignores a status of an older attempt arriving late", () => {
    let live = applyTaskEvent(start, event("status", { status: "RUNNING", attempt: 1 }));
    live = applyTaskEvent(live, event("status", { status: "PENDING", attempt: 0 }));
    expect(live.envelope.data.status).toBe("RUNNING");
  });
  it("ignores events it does not know", () => {
    expect(applyTaskEvent(start, event("ping", {}))).toBe(start);
  });
});
