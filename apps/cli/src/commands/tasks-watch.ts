import type { LlmqClient } from "@llmq/client";
import type { TaskData } from "@llmq/contract";
import { CliError } from "../errors";
import { EXIT, type ExitCode } from "../exit-codes";

/**
 * Follows the task's events (the client resumes a dropped stream after the last event): token deltas go
 * to stdout as they arrive, the final status to stderr. Exit 0 when the task completed, 3 when it failed,
 * was cancelled or expired. A stream the server ends (key revoked, token expired) throws
 * LlmqStreamEndedError, which names the reason.
 */
export async function watchTask(client: LlmqClient, taskId: string): Promise<ExitCode> {
  let printed = "";
  let attempt = 0;
  let task: TaskData | null = null;
  for await (const event of client.events(taskId)) {
    if (event.event === "result") {
      task = event.data.data.data;
    } else if (event.event === "status") {
      if (event.data.status !== "RUNNING" || event.data.attempt <= attempt) continue;
      // A new attempt starts the text again; what was printed cannot be taken back, so say so.
      if (attempt > 0 && printed) process.stderr.write(`\n[llmq: the task is being run again (attempt ${event.data.attempt}); its text restarts]\n`);
      attempt = event.data.attempt;
      printed = "";
    } else if (event.event === "token") {
      printed += event.data.delta;
      process.stdout.write(event.data.delta);
    }
  }
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
