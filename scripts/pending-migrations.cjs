// node scripts/pending-migrations.cjs DATABASE_URL: prints how many migrations of prisma/migrations the
// database has not applied (0 when Prisma would find "No pending migrations"). A migration counts as
// applied when _prisma_migrations has it finished, not rolled back, with the checksum Prisma gives the
// file (its SHA-256); anything else, a failed one included, counts as pending, so `prisma migrate deploy`
// runs and reports it. start.sh asks this first: one query instead of starting Prisma's CLI.
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");
const { Client } = require("pg");

const MIGRATIONS = path.join(__dirname, "..", "prisma", "migrations");

async function main(url) {
  const files = fs
    .readdirSync(MIGRATIONS, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && fs.existsSync(path.join(MIGRATIONS, entry.name, "migration.sql")))
    .map((entry) => ({ name: entry.name, checksum: crypto.createHash("sha256").update(fs.readFileSync(path.join(MIGRATIONS, entry.name, "migration.sql"))).digest("hex") }));
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const table = await client.query("SELECT to_regclass('_prisma_migrations') IS NOT NULL AS present");
    if (!table.rows[0].present) return files.length;
    const { rows } = await client.query(
      "SELECT migration_name, checksum FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL",
    );
    const applied = new Set(rows.map((row) => `${row.migration_name} ${row.checksum}`));
    return files.filter((file) => !applied.has(`${file.name} ${file.checksum}`)).length;
  } finally {
    await client.end();
  }
}

main(process.argv[2]).then(
  (pending) => console.log(pending),
  (error) => {
    console.error(error.message);
    process.exit(1);
  },
);
