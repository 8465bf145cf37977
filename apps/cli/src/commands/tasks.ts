import type { Command } from "commander";
import { z } from "zod";
import type { Context } from "../context";
import { EXIT } from "../exit-codes";
import type { TaskData } from "@llmq/contract";
import { watchTask } from "./tasks-watch";

const TASK_STATUSES = ["PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "EXPIRED"] as const;

const listOptionsSchema = z.object({
  status: z
    .string()
    .transform((value) => value.toUpperCase())
    .pipe(z.enum(TASK_STATUSES, { error: `--status must be one of ${TASK_STATUSES.join(", ")}` }))
    .optional(),
  model: z.string().min(1).optional(),
  limit: z.coerce.number({ error: "--limit must be a number" }).int("--limit must be a whole number").min(1, "--limit must be 1-200").max(200, "--limit must be 1-200").default(20),
  json: z.boolean().default(false),
});

function row(task: TaskData): string {
  return [task.task_id, task.status.padEnd(9), `${String(task.percent).padStart(3)}%`, task.model, task.created_at].join("  ");
}

function describe(task: TaskData): string {
  const lines = [`${task.task_id}: ${task.status} (${task.percent}%)`, `  model:    ${task.model}`, `  created:  ${task.created_at}`];
  if (task.completed_at) lines.push(`  ended:    ${task.completed_at}`);
  if (task.finish_reason) lines.push(`  finish:   ${task.finish_reason}`);
  // The prompt's count is null until the upstream reports it.
  lines.push(`  tokens:   ${task.usage.prompt_tokens ?? "?"} prompt + ${task.usage.completion_tokens} completion`);
  if (task.attempts > 1) lines.push(`  attempts: ${task.attempts}`);
  if (task.error) lines.push(`  error:    ${task.error.code}: ${task.error.message}`);
  if (task.response) lines.push("", task.response);
  return lines.join("\n");
}

/** `llmq tasks ...`: the task dialect (`/v1/ai/tasks`). */
export function registerTaskCommands(program: Command, context: Context): void {
  const tasks = program.command("tasks").description("list, inspect and follow tasks (task API)");

  tasks
    .command("list")
    .description("your tasks, newest first")
    .option("--status <status>", TASK_STATUSES.join(" | "))
    .option("--model <model>", "only this model's tasks")
    .option("--limit <n>", "how many (1-200)", "20")
    .option("--json", "print the tasks as JSON")
    .action(async (options: unknown) =>
      context.run(async () => {
        const query = listOptionsSchema.parse(options);
        const page = await context.tasks().history({ status: query.status, model: query.model, limit: query.limit });
        if (query.json) process.stdout.write(`${JSON.stringify(page.tasks, null, 2)}\n`);
        else for (const task of page.tasks) process.stdout.write(`${row(task)}\n`);
        return EXIT.OK;
      }),
    );

  tasks
    .command("get")
    .description("a task's status, usage and response")
    .argument("<id>", "task id")
    .option("--json", "print the task as JSON")
    .action(async (id: string, options: { json?: boolean }) =>
      context.run(async () => {
        const task = (await context.tasks().task(id)).data;
        process.stdout.write(`${options.json ? JSON.stringify(task, null, 2) : describe(task)}\n`);
        return EXIT.OK;
      }),
    );

  tasks
    .command("watch")
    .description("print a task's text as it is generated (stdout), then its final status (stderr)")
    .argument("<id>", "task id")
    .action(async (id: string) => context.run(async () => watchTask(context.tasks(), id)));
}
