import { Client } from "pg";
import { newTaskId } from "@llmq/core";
import { type PrivatePostgres, eventually, startPrivatePostgres } from "@llmq/testkit";
import { type Database, TaskRepository, UserRepository, createDatabase } from "../src";

/**
 * HOT updates of `tasks` over the life a worker gives a task: submitted behind a backlog, started, three
 * checkpoints as its text grows, completed — 50 at a time, like one worker process at concurrency 50.
 * An update is HOT (no index entry written, the new version on the same page) only when no indexed
 * column changes and the page has room: the start and the checkpoints change no indexed column, and the
 * table's fillfactor leaves room; the completion cannot be (it sets completed_at, which the open-task and
 * finished-task indexes key on). Counted with pg_stat_user_tables, per statement.
 */

let server: Client;
let postgres: PrivatePostgres;
let url: string;
let ownerId: string;

// A Postgres of its own: a transaction open anywhere on the server (another suite's) keeps old versions
// from being pruned, and with them the room HOT updates need — the figures would be the neighbours'.
beforeAll(async () => {
  postgres = await startPrivatePostgres();
  url = postgres.url;
  server = new Client({ connectionString: url });
  await server.connect();
  const setup = createDatabase({ databaseUrl: url });
  ownerId = (await new UserRepository(setup).create("hot")).id;
  await setup.$disconnect();
});

afterAll(async () => {
  await server?.end();
  await postgres?.destroy();
}, 60_000);

async function tableCounts(): Promise<{ updates: number; hot: number }> {
  await server.query("SELECT pg_stat_clear_snapshot()");
  const { rows } = await server.query<{ upd: string; hot: string }>("SELECT n_tup_upd AS upd, n_tup_hot_upd AS hot FROM pg_stat_user_tables WHERE relname = 'tasks'");
  return { updates: Number(rows[0]!.upd), hot: Number(rows[0]!.hot) };
}

/**
 * Runs `step` on a connection of its own, ends it (a backend reports its statistics when it exits) and
 * returns the updates and HOT updates it made. One connection: the statements of a step run one after
 * the other, so the figures are the table's (indexes, fillfactor, row growth), not the scheduling's —
 * with 10 connections at once the start and checkpoint figures are a few points lower and vary from run to
 * run (a version stays unprunable while a concurrent transaction may still see it).
 */
async function measured(expectedUpdates: number, step: (tasks: TaskRepository) => Promise<unknown>): Promise<{ updates: number; hot: number }> {
  const before = await tableCounts();
  const db: Database = createDatabase({ databaseUrl: url, poolSize: 1 });
  await step(new TaskRepository(db));
  await db.$disconnect();
  // A backend reports its statistics when it exits: end this step's connections now.
  await server.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
  return eventually(
    async () => {
      const after = await tableCounts();
      const delta = { updates: after.updates - before.updates, hot: after.hot - before.hot };
      return delta.updates >= expectedUpdates ? delta : undefined;
    },
    { what: "the statistics of the step's connections" },
  );
}

const TASKS = 600;
const CONCURRENCY = 50;
const words = (n: number) => "token ".repeat(n);

it("starts and checkpoints are HOT updates; only the completion writes index entries", async () => {
  const submitted = await measured(0, async (tasks) => {
    for (let i = 0; i < TASKS; i++) {
      await tasks.create({
        id: newTaskId(),
        ownerId,
        model: "model-a",
        queueName: "llm_model_a_queue",
        messages: [{ role: "user", content: `Summarise paragraph ${i} in one sentence, please.` }],
        configs: { model: "model-a", max_tokens: 40, temperature: 0.7 },
        expiresAt: new Date(Date.now() + 86400_000),
        runTimeoutMs: 600_000,
      });
    }
  });
  expect(submitted.updates).toBe(0);
  const ids = (await server.query<{ id: string }>("SELECT task_id AS id FROM tasks ORDER BY created_at")).rows.map((row) => row.id);

  const totals: Record<"start" | "checkpoint" | "complete", { updates: number; hot: number }> = {
    start: { updates: 0, hot: 0 },
    checkpoint: { updates: 0, hot: 0 },
    complete: { updates: 0, hot: 0 },
  };
  const add = (kind: keyof typeof totals, delta: { updates: number; hot: number }) => {
    totals[kind].updates += delta.updates;
    totals[kind].hot += delta.hot;
  };
  for (let wave = 0; wave < TASKS; wave += CONCURRENCY) {
    const running = ids.slice(wave, wave + CONCURRENCY);
    add("start", await measured(running.length, (tasks) => Promise.all(running.map((id) => tasks.startAttempt(id)))));
    for (const share of [1, 2, 3]) {
      const text = words(Math.round((40 * share) / 4));
      const progress = { response: text, percent: share * 25, completionTokens: share * 10, firstTokenAt: new Date(), choices: [{ index: 0, text, finishReason: null, toolCalls: [] }] };
      add("checkpoint", await measured(running.length, (tasks) => Promise.all(running.map((id) => tasks.checkpoint(id, 1, progress)))));
    }
    const text = words(40);
    const outcome = { response: text, percent: 100, completionTokens: 40, firstTokenAt: new Date(), choices: [{ index: 0, text, finishReason: "stop" as const, toolCalls: [] }], finishReason: "stop" as const, promptTokens: 12 };
    add("complete", await measured(running.length, (tasks) => Promise.all(running.map((id) => tasks.complete(id, 1, outcome)))));
  }

  const all = Object.values(totals).reduce((sum, t) => ({ updates: sum.updates + t.updates, hot: sum.hot + t.hot }), { updates: 0, hot: 0 });
  const share = (t: { updates: number; hot: number }) => Math.round((1000 * t.hot) / t.updates) / 10;
  const figures = { start: share(totals.start), checkpoint: share(totals.checkpoint), complete: share(totals.complete), all: share(all) };
  console.log(`HOT share of task updates (%): ${JSON.stringify(figures)} over ${all.updates} updates`);
  expect(all.updates).toBe(TASKS * 5);
  // Measured here (fillfactor 80): start 100 %, checkpoints ~82 %, completion 0, all ~69 %; before the diet
  // (status in five indexes, fillfactor 100) the start was never HOT. A checkpoint that is not HOT found no
  // room on its page: the row about doubles as its text is written, twice (response and choices).
  expect(figures.start).toBeGreaterThanOrEqual(95);
  expect(figures.checkpoint).toBeGreaterThanOrEqual(75);
  // The completion sets completed_at, which the open-task and finished-task indexes key on: never HOT.
  expect(figures.complete).toBe(0);
  expect(figures.all).toBeGreaterThanOrEqual(65);
}, 120_000);
