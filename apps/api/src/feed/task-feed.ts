import type { Logger } from "@llmq/core";
import type { TaskRepository, Viewer } from "@llmq/db";
import type { TaskUpdate } from "@llmq/queue";
import { historyRow } from "../flexstack/history-row";

/** Changes are gathered this long, then their rows are read in one query and fanned out. */
const COALESCE_MS = 250;
/** Rows read per tick at most: a 50,000-task batch cancelled at once is spread over ticks. */
const MAX_ROWS_PER_TICK = 1_000;

/** One SSE client of the live task list; `send` gets each changed row as JSON text. */
interface FeedClient {
  viewer: Viewer;
  send(json: string): void;
}

/**
 * The live task list of one API process. Every process subscribes once to the task-updates channel and
 * hands each message to `accept`; changes are coalesced for ~250 ms, the rows of those a client here may
 * see are read with ONE query, and each row goes to the admin's clients and its owner's. No client ever
 * causes a query of its own, and with no client nothing is read at all.
 */
export class TaskFeed {
  private readonly admins = new Set<FeedClient>();
  private readonly byOwner = new Map<string, Set<FeedClient>>();
  /** Changed task -> its owner, until the next tick reads it. */
  private pending = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly deps: { tasks: TaskRepository; logger: Logger; coalesceMs?: number }) {}

  /** Follows the tasks `viewer` may see (the admin: all of them) until the returned function is called. */
  register(viewer: Viewer, send: (json: string) => void): () => void {
    const client: FeedClient = { viewer, send };
    if (viewer.isAdmin) this.admins.add(client);
    else {
      const clients = this.byOwner.get(viewer.userId) ?? new Set();
      clients.add(client);
      this.byOwner.set(viewer.userId, clients);
    }
    return () => {
      if (viewer.isAdmin) return void this.admins.delete(client);
      const clients = this.byOwner.get(viewer.userId);
      clients?.delete(client);
      if (clients?.size === 0) this.byOwner.delete(viewer.userId);
    };
  }

  /** Changes announced by any process (API or worker); kept only when a client here may see them. */
  accept(updates: readonly TaskUpdate[]): void {
    if (this.closed) return;
    for (const update of updates) {
      if (this.admins.size > 0 || this.byOwner.has(update.ownerId)) this.pending.set(update.taskId, update.ownerId);
    }
    this.schedule();
  }

  /** Clients connected to this process (for tests and metrics). */
  clientCount(): number {
    let count = this.admins.size;
    for (const clients of this.byOwner.values()) count += clients.size;
    return count;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending.clear();
  }

  private schedule(): void {
    if (this.timer || this.pending.size === 0 || this.closed) return;
    // Not reset by later changes: a busy queue still gets a tick every COALESCE_MS.
    this.timer = setTimeout(() => {
      this.timer = null;
      this.ticking = this.ticking.then(() => this.tick());
    }, this.deps.coalesceMs ?? COALESCE_MS);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const ids = [...this.pending.keys()].slice(0, MAX_ROWS_PER_TICK);
    for (const id of ids) this.pending.delete(id);
    try {
      const rows = await this.deps.tasks.findByIds(ids);
      for (const task of rows) {
        const owners = this.byOwner.get(task.ownerId);
        if (this.admins.size === 0 && !owners) continue;
        const json = JSON.stringify(historyRow(task));
        for (const client of this.admins) client.send(json);
        for (const client of owners ?? []) client.send(json);
      }
    } catch (error) {
      this.deps.logger.warn({ err: error, tasks: ids.length }, "could not read changed tasks for the live task list");
    }
    this.schedule();
  }
}
