import type { BenchStack } from "../stack";
import { sleep } from "../stats";

/** Row updates Postgres counted on the tasks table so far (pg_stat_user_tables; backends report within about a second). */
export async function taskRowUpdates(stack: BenchStack): Promise<number> {
  await sleep(1_500);
  const { rows } = await stack.pg.query<{ n: string }>("SELECT n_tup_upd AS n FROM pg_stat_user_tables WHERE relname = 'tasks'");
  return Number(rows[0]?.n ?? 0);
}

export async function tasksCreatedSince(stack: BenchStack, model: string, since: Date): Promise<number> {
  const { rows } = await stack.pg.query<{ n: string }>("SELECT count(*) AS n FROM tasks WHERE model = $1 AND created_at >= $2", [model, since]);
  return Number(rows[0]!.n);
}
