/**
 * A row from plain SQL (SELECT * / RETURNING *) in Prisma's field names: the schema maps every field to
 * its snake_case column, so camelCase is the rule and `renames` the exceptions (`task_id` -> `id`).
 * Generic on purpose, so a column added to the schema later comes through without touching the SQL.
 */
export function camelRow(row: Record<string, unknown>, renames: Readonly<Record<string, string>> = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [column, value] of Object.entries(row)) {
    out[renames[column] ?? column.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase())] = value;
  }
  return out;
}
