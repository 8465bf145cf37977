// Fills DATABASE_URL (migrated, empty) with a generated history: see scripts/fill-history.sh.
import { Client } from "pg";
import { fillHistory } from "@llmq/testkit";

const count = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer`);
  return value;
};

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error("DATABASE_URL is not set (run scripts/fill-history.sh)");
  const client = new Client({ connectionString: url });
  await client.connect();
  const started = Date.now();
  try {
    await fillHistory(client, {
      rows: count("HISTORY_ROWS", 10_000_000),
      keys: count("HISTORY_KEYS", 1_000),
      days: count("HISTORY_DAYS", 60),
      progress: (written, total) => console.log(`${written.toLocaleString("en")} / ${total.toLocaleString("en")} tasks, ${((Date.now() - started) / 1000).toFixed(0)} s`),
    });
    const { rows } = await client.query<{ tasks: string; table: string; indexes: string }>(
      "SELECT (SELECT count(*) FROM tasks) AS tasks, pg_size_pretty(pg_table_size('tasks')) AS table, pg_size_pretty(pg_indexes_size('tasks')) AS indexes",
    );
    console.log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s: ${rows[0]?.tasks} tasks, table ${rows[0]?.table}, indexes ${rows[0]?.indexes}`);
  } finally {
    await client.end();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
