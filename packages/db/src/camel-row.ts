/**
 * A row from plain SQL (SELECT * / RETURNING *) in Prisma's field names: the schema maps every field to
 * its snake_case column, so camelCase is the rule and `renames` the exceptions (`task_id` -> `id`).
 * Generic on purpose, so a column added to the schema later comes through without touching the SQL.
 */
export function camelRow(row: Record<string, unknown>, renames: Readonly<Record<string, string>> = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const column in row) out[renames[column] ?? camelName(column)] = row[column];
  return out;
}

/**
 * Column names seen so far, converted once each: every row of a hot statement has the same few dozen
 * columns, and a regex replace per column per row showed in the API's profile. Bounded by the schema.
 */
const camelNames = new Map<string, string>();

function camelName(column: string): string {
  let name = camelNames.get(column);
  if (name === undefined) {
    name = column.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
    camelNames.set(column, name);
  }
  return name;
}
