import type { BenchStack } from "../stack";
import { sleep } from "../stats";

/** Row updates Postgres counted on the tasks table so far (pg_stat_user_tables; backends report within about a second). */
export async function taskRowUpdates(stack: BenchStack): Promise<number> {
  await sleep(1_500);
  const { rows } = await stack.pg.query<{ n: string }>("SELECT n_tup_upd AS n FROM pg_stat_user_tables WHERE relname = 'tasks'");
  return Number(rows[0]?.n ?? 0);
}

/** How many tasks of `model` were created since `since`, and their summed run time in seconds. */
export async function tasksCreatedSince(stack: BenchStack, model: string, since: Date): Promise<{ tasks: number; seconds: number }> {
  const { rows } = await stack.pg.query<{ n: string; s: number | null }>(
    "SELECT count(*) AS n, sum(extract(epoch FROM completed_at - started_at))::float8 AS s FROM tasks WHERE model = $1 AND created_at >= $2",
    [model, since],
  );
  return { tasks: Number(rows[0]!.n), seconds: rows[0]!.s ?? 0 };
}
