import { createParser } from "eventsource-parser";
import { CliError } from "../errors";
import { EXIT, type ExitCode } from "../exit-codes";
import type { TaskEnvelope, TaskStatusEvent, TaskTokenEvent } from "@llmq/contract";
import type { TaskApi, TaskData } from "../task-api";

/**
 * Follows `GET /v1/ai/tasks/{id}/events`: token deltas go to stdout as they arrive, the final status to
 * stderr. Exit 0 when the task completed, 3 when it failed, was cancelled or expired.
 */
export async function watchTask(api: TaskApi, taskId: string): Promise<ExitCode> {
  const res = await api.events(taskId);
  if (!res.body) throw new CliError("the event stream came back empty", EXIT.API);
  let printed = "";
  let attempt = 0;
  // Set from the parser's callback (an object, so TypeScript does not narrow it to null).
  const outcome: { task: TaskData | null; ended: { code: string; message: string } | null } = { task: null, ended: null };

  const parser = createParser({
    onEvent(event) {
      if (event.event === "result") {
        outcome.task = (JSON.parse(event.data) as TaskEnvelope).data.data;
        return;
      }
      if (event.event === "error") {
        // The server ended the stream: the key was revoked, its account deleted, its token expired.
        outcome.ended = (JSON.parse(event.data) as { errors: { code: string; message: string }[] }).errors[0] ?? null;
        return;
      }
      if (event.event === "status") {
        const data = JSON.parse(event.data) as TaskStatusEvent;
        if (data.status !== "RUNNING" || data.attempt <= attempt) return;
        // A new attempt starts the text again; what was printed cannot be taken back, so say so.
        if (attempt > 0 && printed) process.stderr.write(`\n[llmq: the task is being run again (attempt ${data.attempt}); its text restarts]\n`);
        attempt = data.attempt;
        printed = "";
      } else if (event.event === "token") {
        const data = JSON.parse(event.data) as TaskTokenEvent;
        printed += data.delta;
        process.stdout.write(data.delta);
      }
    },
  });

  const decoder = new TextDecoder();
  for await (const chunk of res.body) parser.feed(decoder.decode(chunk, { stream: true }));
  parser.feed(decoder.decode());

  const task = outcome.task;
  if (outcome.ended) throw new CliError(`the server ended the event stream of ${taskId}: ${outcome.ended.message} (${outcome.ended.code})`, EXIT.API);
  if (!task) throw new CliError(`the event stream of ${taskId} ended before its result`, EXIT.API);
  // A stream past its retention is just the result: show the text it carries.
  if (!printed && task.response) process.stdout.write(task.response);
  if (process.stdout.isTTY && (printed || task.response)) process.stdout.write("\n");
  const tokens = `, ${task.usage.completion_tokens} tokens`;
  const reason = task.finish_reason ? `, finish_reason ${task.finish_reason}` : "";
  const error = task.error ? `: ${task.error.code}: ${task.error.message}` : "";
  process.stderr.write(`${task.task_id}: ${task.status}${reason}${tokens}${error}\n`);
  return task.status === "COMPLETED" ? EXIT.OK : EXIT.BATCH_NOT_COMPLETED;
}
