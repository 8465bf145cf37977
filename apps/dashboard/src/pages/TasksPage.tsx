import { type FormEvent, type KeyboardEvent, type MouseEvent, useCallback, useEffect, useRef, useState } from "react";
import { TASK_STATUSES, isFinal } from "@llmq/core";
import type { ModelInfo, TaskRow, SignedInUser as User } from "@llmq/contract";
import { useAuth } from "../auth/AuthContext";
import { PercentBar } from "../components/PercentBar";
import { StatusBadge } from "../components/StatusBadge";
import { useNow } from "../hooks/useNow";
import { useTaskUpdates } from "../hooks/useTaskUpdates";
import { type TaskFilters, filtersFromQuery, filtersToQuery, historyParams } from "../lib/filters";
import { NONE, formatCount, formatDuration, formatEndpoint, formatRate, formatTimestamp, secondsBetween, tokensPerSecond } from "../lib/format";
import { BASE, Link, navigate, useLocation } from "../lib/router";
import { pathOf } from "../lib/routes";
import { mergeRow } from "../lib/rows";

const PAGE_SIZE = 50;

interface ListState {
  rows: TaskRow[];
  nextCursor: string | null;
  hasMore: boolean;
  loading: boolean;
  error: string | null;
}

/** Task history: filters, live rows, cursor pagination ("Load older"). */
export function TasksPage() {
  const { client, user } = useAuth();
  const { search } = useLocation();
  const filters = filtersFromQuery(search);
  const filterKey = filtersToQuery(filters);
  const [state, setState] = useState<ListState>({ rows: [], nextCursor: null, hasMore: false, loading: true, error: null });
  const [models, setModels] = useState<ModelInfo[]>([]);
  const [users, setUsers] = useState<User[]>([]);
  // Only the newest load may write the list: a slow answer for old filters must not overwrite a newer one.
  const loadId = useRef(0);

  const load = useCallback(
    async (cursor: string | null) => {
      const id = ++loadId.current;
      setState((s) => ({ ...s, loading: true, error: null }));
      try {
        const page = await client.history(historyParams(filtersFromQuery(filterKey), { cursor, limit: PAGE_SIZE }));
        if (id !== loadId.current) return;
        setState((s) => {
          const rows = cursor ? [...s.rows, ...page.tasks.filter((t) => !s.rows.some((r) => r.task_id === t.task_id))] : page.tasks;
          return { rows, nextCursor: page.next_cursor, hasMore: page.has_more, loading: false, error: null };
        });
      } catch (error) {
        if (id === loadId.current) setState((s) => ({ ...s, loading: false, error: error instanceof Error ? error.message : String(error) }));
      }
    },
    [client, filterKey],
  );

  useEffect(() => {
    void load(null);
  }, [load]);

  useEffect(() => {
    void client.models().then(setModels, () => setModels([]));
    if (user?.is_admin) void client.users().then(setUsers, () => setUsers([]));
  }, [client, user?.is_admin]);

  const filtersRef = useRef(filters);
  filtersRef.current = filters;
  const feed = useTaskUpdates(
    (row) => setState((s) => ({ ...s, rows: mergeRow(s.rows, row, filtersRef.current, !s.hasMore) })),
    () => void load(null),
  );

  const ownerLabel = (id: string | undefined) => {
    const owner = users.find((u) => u.id === id);
    return owner ? (owner.email ?? owner.name) : (id ?? NONE);
  };

  const anyLive = state.rows.some((row) => !isFinal(row.status));
  const now = useNow(anyLive);

  const applyFilters = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const next = filtersFromQuery(new URLSearchParams([...form.entries()].map(([k, v]) => [k, String(v)])).toString());
    navigate(`${pathOf({ page: "tasks" }, BASE)}${filtersToQuery(next)}`, { replace: true });
  };

  const searchTask = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const id = String(new FormData(event.currentTarget).get("task_id") ?? "").trim();
    if (id) navigate(pathOf({ page: "task", taskId: id }, BASE));
  };

  return (
    <section aria-labelledby="tasks-title">
      <div className="page-head">
        <h1 id="tasks-title">Tasks</h1>
        <form className="search" role="search" onSubmit={searchTask}>
          <label>
            <span className="visually-hidden">Task id</span>
            <input name="task_id" placeholder="Find a task by id" autoComplete="off" spellCheck={false} />
          </label>
          <button type="submit">Open</button>
        </form>
      </div>

      {/* Remounted when the filters or the option lists change, so each select shows the filter's value. */}
      <form className="filters" aria-label="Filters" onSubmit={applyFilters} key={`${filterKey}|${models.length}|${users.length}`}>
        <label>
          Status
          <select name="status" defaultValue={filters.status ?? ""}>
            <option value="">any</option>
            {TASK_STATUSES.map((status) => (
              <option key={status} value={status}>
                {status}
              </option>
            ))}
          </select>
        </label>
        <label>
          Model
          <select name="model" defaultValue={filters.model ?? ""}>
            <option value="">any</option>
            {models.map((m) => (
              <option key={m.model} value={m.model}>
                {m.model}
              </option>
            ))}
            {filters.model && !models.some((m) => m.model === filters.model) && <option value={filters.model}>{filters.model}</option>}
          </select>
        </label>
        <label>
          Batch
          <input name="batch_id" defaultValue={filters.batch_id ?? ""} placeholder="batch id" autoComplete="off" />
        </label>
        <label>
          Created from
          <input name="created_from" type="datetime-local" defaultValue={filters.created_from ?? ""} />
        </label>
        <label>
          Created to
          <input name="created_to" type="datetime-local" defaultValue={filters.created_to ?? ""} />
        </label>
        {user?.is_admin && (
          <label>
            User
            <select name="user_id" defaultValue={filters.user_id ?? ""}>
              <option value="">everyone</option>
              {users.map((u) => (
                <option key={u.id} value={u.id}>
                  {u.email ?? u.name}
                </option>
              ))}
              {filters.user_id && !users.some((u) => u.id === filters.user_id) && <option value={filters.user_id}>{filters.user_id}</option>}
            </select>
          </label>
        )}
        <div className="filter-actions">
          <button type="submit" className="primary">
            Apply
          </button>
          <Link className="button" href={pathOf({ page: "tasks" }, BASE)}>
            Clear
          </Link>
        </div>
      </form>

      {state.error && (
        <p className="error" role="alert">
          {state.error}
        </p>
      )}

      <div className="table-wrap">
        <table className="tasks">
          <thead>
            <tr>
              <th scope="col">Task</th>
              <th scope="col">Model</th>
              <th scope="col">API</th>
              <th scope="col">Status</th>
              <th scope="col">Progress</th>
              <th scope="col">Created</th>
              <th scope="col">Queue wait</th>
              <th scope="col">TTFT</th>
              <th scope="col">Duration</th>
              <th scope="col">Tokens</th>
              <th scope="col">Tokens/s</th>
              {user?.is_admin && <th scope="col">User</th>}
            </tr>
          </thead>
          <tbody>
            {state.rows.map((row) => (
              <TaskRowView key={row.task_id} row={row} now={now} owner={user?.is_admin ? ownerLabel(row.owner_id) : null} />
            ))}
          </tbody>
        </table>
      </div>
      {!state.loading && state.rows.length === 0 && !state.error && <p className="muted empty">No tasks{filterKey ? " match these filters" : " yet"}.</p>}
      <div className="pager">
        {state.loading && <span className="muted" aria-live="polite">Loading…</span>}
        {!state.loading && state.hasMore && (
          <button type="button" onClick={() => void load(state.nextCursor)}>
            Load older tasks
          </button>
        )}
        <span className="muted" aria-live="polite" data-feed={feed}>
          {formatCount(state.rows.length)} shown · {feed === "live" ? "live" : feed === "connecting" ? "connecting…" : "not updating (reload to retry)"}
        </span>
      </div>
    </section>
  );
}

/** `owner`: the owner's name for the admin's view, null for a user's own list. */
function TaskRowView({ row, now, owner }: { row: TaskRow; now: number; owner: string | null }) {
  const live = !isFinal(row.status);
  // While a step is under way, its time so far; once it is over, the API's figure.
  const queueWait = row.timings.queue_wait_seconds ?? (row.status === "PENDING" ? (now - Date.parse(row.created_at)) / 1000 : null);
  const duration = row.timings.duration_seconds ?? (live && row.started_at ? secondsBetween(row.started_at, new Date(now).toISOString()) : null);
  const href = pathOf({ page: "task", taskId: row.task_id }, BASE);
  // The whole row opens the task: a click anywhere but on a control of its own (the id link handles
  // itself) or the end of a text selection, and Enter on the focused row.
  const open = (event: MouseEvent<HTMLTableRowElement>) => {
    if ((event.target as Element).closest("a, button, input, select, textarea")) return;
    if (window.getSelection()?.toString()) return;
    navigate(href);
  };
  const openByKey = (event: KeyboardEvent<HTMLTableRowElement>) => {
    if (event.key === "Enter" && event.target === event.currentTarget) navigate(href);
  };
  return (
    <tr data-task-id={row.task_id} data-status={row.status} className="row-link" tabIndex={0} aria-label={`Task ${row.task_id}, ${row.status}`} onClick={open} onKeyDown={openByKey}>
      <td data-label="Task" title={row.task_id}>
        <Link className="mono" href={href}>
          {row.task_id}
        </Link>
      </td>
      <td data-label="Model" className="model" title={row.model}>
        {row.model}
      </td>
      <td data-label="API">{formatEndpoint(row)}</td>
      <td data-label="Status">
        <StatusBadge status={row.status} />
      </td>
      <td data-label="Progress">
        <PercentBar percent={row.percent} label={`progress of ${row.task_id}`} />
      </td>
      <td data-label="Created">{formatTimestamp(row.created_at)}</td>
      <td data-label="Queue wait">{formatDuration(queueWait)}</td>
      <td data-label="TTFT">{formatDuration(row.timings.time_to_first_token_seconds)}</td>
      <td data-label="Duration">{formatDuration(duration)}</td>
      <td data-label="Tokens">{row.usage.completion_tokens === null ? NONE : formatCount(row.usage.completion_tokens)}</td>
      <td data-label="Tokens/s">{formatRate(tokensPerSecond(row, now))}</td>
      {owner !== null && (
        <td data-label="User" className="owner" title={owner === row.owner_id ? owner : `${owner} (${row.owner_id})`}>
          {owner}
        </td>
      )}
    </tr>
  );
}
