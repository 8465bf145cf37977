import { TASK_STATUSES, type TaskStatus } from "@llmq/core";
import type { TaskRow } from "@llmq/contract";

/** The Tasks page's filters; also its URL query, so a filtered view can be bookmarked and shared. */
export interface TaskFilters {
  status?: TaskStatus;
  model?: string;
  batch_id?: string;
  /** `datetime-local` values (the viewer's time zone), as typed. */
  created_from?: string;
  created_to?: string;
  /** Admin only: one user's tasks. */
  user_id?: string;
}

const TEXT_KEYS = ["model", "batch_id", "created_from", "created_to", "user_id"] as const;

function isStatus(value: string): value is TaskStatus {
  return (TASK_STATUSES as readonly string[]).includes(value);
}

/** Reads filters from a query string, dropping empty and unknown values. */
export function filtersFromQuery(search: string): TaskFilters {
  const params = new URLSearchParams(search);
  const filters: TaskFilters = {};
  const status = params.get("status");
  if (status && isStatus(status)) filters.status = status;
  for (const key of TEXT_KEYS) {
    const value = params.get(key)?.trim();
    if (value) filters[key] = value;
  }
  return filters;
}

/** The page's query string for these filters ("" when none), keys in a stable order. */
export function filtersToQuery(filters: TaskFilters): string {
  const params = new URLSearchParams();
  if (filters.status) params.set("status", filters.status);
  for (const key of TEXT_KEYS) {
    const value = filters[key];
    if (value) params.set(key, value);
  }
  const query = params.toString();
  return query ? `?${query}` : "";
}

/** A `datetime-local` value as the ISO 8601 instant the API expects, or null if it is not a date. */
export function localToIso(local: string): string | null {
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** Query parameters of `GET /v1/ai/tasks` for these filters and a page. */
export function historyParams(filters: TaskFilters, page: { cursor?: string | null; limit: number }): URLSearchParams {
  const params = new URLSearchParams();
  if (filters.status) params.set("status", filters.status);
  if (filters.model) params.set("model", filters.model);
  if (filters.batch_id) params.set("batch_id", filters.batch_id);
  if (filters.user_id) params.set("user_id", filters.user_id);
  const from = filters.created_from ? localToIso(filters.created_from) : null;
  const to = filters.created_to ? localToIso(filters.created_to) : null;
  if (from) params.set("created_from", from);
  if (to) params.set("created_to", to);
  if (page.cursor) params.set("cursor", page.cursor);
  params.set("limit", String(page.limit));
  return params;
}

/** Would the history with these filters list this row? Decides whether a live update joins the page. */
export function matchesFilters(row: TaskRow, filters: TaskFilters): boolean {
  if (filters.status && row.status !== filters.status) return false;
  if (filters.model && row.model !== filters.model) return false;
  if (filters.batch_id && row.batch_id !== filters.batch_id) return false;
  if (filters.user_id && row.owner_id !== undefined && row.owner_id !== filters.user_id) return false;
  const created = Date.parse(row.created_at);
  const from = filters.created_from ? localToIso(filters.created_from) : null;
  const to = filters.created_to ? localToIso(filters.created_to) : null;
  if (from && created < Date.parse(from)) return false;
  if (to && created > Date.parse(to)) return false;
  return true;
}
