/**
 * After scripts/index-usage.sh's jest run: sums pg_stat_user_indexes of `tasks` over every test database
 * still present (idx_scan, idx_tup_read per index), with the table's scan and update counters, and lists
 * the distinct statements on `tasks` that pg_stat_statements saw. Writes markdown to argv[2].
 */
import { writeFileSync } from "node:fs";
import { Client } from "pg";

const server = process.env.TEST_PG_SERVER_URL;
if (!server) throw new Error("TEST_PG_SERVER_URL is not set: run scripts/index-usage.sh");
const out = process.argv[2] ?? "/tmp/llmq-index-usage.md";

async function withClient<T>(database: string, run: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: `${server}/${database}` });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

async function main(): Promise<void> {
  const databases = await withClient("postgres", async (client) =>
    (await client.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'test\\_%' ORDER BY datname")).rows.map((row) => row.datname),
  );
  const indexes = new Map<string, { scans: number; tuples: number; databases: number }>();
  const table = { seqScans: 0, idxScans: 0, inserts: 0, updates: 0, hotUpdates: 0 };
  for (const database of databases) {
    await withClient(database, async (client) => {
      const rows = (
        await client.query<{ name: string; scans: string; tuples: string }>(
          "SELECT indexrelname AS name, idx_scan AS scans, idx_tup_read AS tuples FROM pg_stat_user_indexes WHERE relname = 'tasks'",
        )
      ).rows;
      for (const row of rows) {
        const sum = indexes.get(row.name) ?? { scans: 0, tuples: 0, databases: 0 };
        sum.scans += Number(row.scans);
        sum.tuples += Number(row.tuples);
        if (Number(row.scans) > 0) sum.databases += 1;
        indexes.set(row.name, sum);
      }
      const stats = (
        await client.query<{ seq: string; idx: string; ins: string; upd: string; hot: string }>(
          "SELECT seq_scan AS seq, coalesce(idx_scan, 0) AS idx, n_tup_ins AS ins, n_tup_upd AS upd, n_tup_hot_upd AS hot FROM pg_stat_user_tables WHERE relname = 'tasks'",
        )
      ).rows[0];
      if (stats) {
        table.seqScans += Number(stats.seq);
        table.idxScans += Number(stats.idx);
        table.inserts += Number(stats.ins);
        table.updates += Number(stats.upd);
        table.hotUpdates += Number(stats.hot);
      }
    });
  }
  const statements = await withClient("postgres", async (client) => {
    await client.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    return (
      await client.query<{ query: string; calls: string }>(
        `SELECT regexp_replace(query, '\\s+', ' ', 'g') AS query, sum(calls) AS calls FROM pg_stat_statements
          WHERE query ~* '\\mtasks\\M' AND query !~* 'pg_stat|pg_indexes|CREATE (UNIQUE )?INDEX|ALTER TABLE|CREATE TABLE|_prisma_migrations'
          GROUP BY 1 ORDER BY 2 DESC`,
      )
    ).rows;
  });

  const lines = [
    `# Index use of \`tasks\` over the test suite (${databases.length} test databases)`,
    "",
    "| index | idx_scan | idx_tup_read | databases that used it |",
    "| --- | ---: | ---: | ---: |",
    ...[...indexes.entries()].sort((a, b) => b[1].scans - a[1].scans).map(([name, sum]) => `| ${name} | ${sum.scans} | ${sum.tuples} | ${sum.databases} |`),
    "",
    `Table: seq_scan ${table.seqScans}, idx_scan ${table.idxScans}, inserts ${table.inserts}, updates ${table.updates}, HOT ${table.hotUpdates} (${
      table.updates ? ((100 * table.hotUpdates) / table.updates).toFixed(1) : "0"
    } %).`,
    "",
    `## Distinct statements on tasks (${statements.length})`,
    "",
    "| calls | statement |",
    "| ---: | --- |",
    ...statements.map((row) => `| ${row.calls} | \`${row.query.replace(/\|/g, "\\|").slice(0, 600)}\` |`),
    "",
  ];
  writeFileSync(out, lines.join("\n"));
  process.stdout.write(lines.slice(0, indexes.size + 8).join("\n") + `\nfull report: ${out}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
