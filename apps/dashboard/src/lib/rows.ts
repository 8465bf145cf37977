import { isFinal } from "@llmq/core";
import type { TaskRow } from "@llmq/contract";
import { type TaskFilters, matchesFilters } from "./filters";

/** Newest first, ties by id descending: the order the history pages come in. */
export function compareNewestFirst(a: TaskRow, b: TaskRow): number {
  return b.created_at.localeCompare(a.created_at) || b.task_id.localeCompare(a.task_id);
}

/** Is `update` no older than `current`? Updates can arrive out of order; a final state never goes back. */
function isNewer(update: TaskRow, current: TaskRow): boolean {
  if (update.attempts !== current.attempts) return update.attempts > current.attempts;
  if (isFinal(current.status) !== isFinal(update.status)) return isFinal(update.status);
  const rank = (row: TaskRow) => (row.completed_at ? 3 : row.first_token_at ? 2 : row.started_at ? 1 : 0);
  if (rank(update) !== rank(current)) return rank(update) > rank(current);
  return update.percent >= current.percent;
}

/**
 * Merges one live update into the rows on screen. A known row is replaced in place; a new row that the
 * filters match is inserted in order, but only if it falls within the loaded range (older rows belong to
 * pages not loaded yet, which will bring them). A row that no longer matches (a status filter) leaves.
 */
export function mergeRow(rows: readonly TaskRow[], update: TaskRow, filters: TaskFilters, allLoaded: boolean): TaskRow[] {
  const index = rows.findIndex((row) => row.task_id === update.task_id);
  const matches = matchesFilters(update, filters);
  if (index >= 0) {
    const current = rows[index]!;
    if (!isNewer(update, current)) return rows as TaskRow[];
    const next = [...rows];
    if (matches) next[index] = update;
    else next.splice(index, 1);
    return next;
  }
  if (!matches) return rows as TaskRow[];
  const oldest = rows[rows.length - 1];
  if (oldest && !allLoaded && compareNewestFirst(update, oldest) > 0) return rows as TaskRow[];
  const next = [...rows, update];
  next.sort(compareNewestFirst);
  return next;
}
