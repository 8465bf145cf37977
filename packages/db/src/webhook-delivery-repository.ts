import type { Database } from "./client";
import type { Prisma, WebhookAttempt, WebhookDelivery } from "./generated/prisma/client";
import type { Viewer } from "./task-repository";

export type WebhookDeliveryRecord = WebhookDelivery;
export type WebhookAttemptRecord = WebhookAttempt;
export type WebhookDeliveryStatus = "pending" | "succeeded" | "failed";

export interface NewWebhookDelivery {
  id: string;
  ownerId: string;
  apiKeyId: string | null;
  taskId?: string | null;
  batchId?: string | null;
  eventType: string;
  url: string;
  payload: Record<string, unknown>;
}

/** What one HTTP attempt gave, and what comes next. */
export interface AttemptOutcome {
  startedAt: Date;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  responseBody: string | null;
  /** `succeeded`, `failed` (no more attempts), or `pending` with the time of the next attempt. */
  next: { status: "succeeded" | "failed" } | { status: "pending"; at: Date };
}

export interface DeliveryListQuery {
  viewer: Viewer;
  taskId?: string;
  batchId?: string;
  status?: WebhookDeliveryStatus;
  /** The last delivery id of the previous page (ids sort with their creation within a page). */
  after?: { createdAt: Date; id: string };
  limit: number;
}

/** Webhook messages and their attempts. */
/** Where a walk over ended tasks stands: past the task `id` that ended at `at` ("" for the first of that instant). */
export interface FinalDeliveryCursor {
  at: Date;
  id: string;
}

export class WebhookDeliveryRepository {
  constructor(private readonly db: Database) {}

  /** Inserts the delivery unless one with its id exists (an event noticed twice is sent once). Returns true if inserted. */
  async createIfAbsent(delivery: NewWebhookDelivery): Promise<boolean> {
    const { count } = await this.db.webhookDelivery.createMany({
      data: [{ ...delivery, payload: delivery.payload as Prisma.InputJsonValue, nextAttemptAt: new Date() }],
      skipDuplicates: true,
    });
    return count === 1;
  }

  async findById(id: string): Promise<WebhookDeliveryRecord | null> {
    return this.db.webhookDelivery.findUnique({ where: { id } });
  }

  /** The delivery and its attempts if `viewer` may see it; null otherwise. */
  async findVisible(id: string, viewer: Viewer): Promise<(WebhookDeliveryRecord & { attempts: WebhookAttemptRecord[] }) | null> {
    return this.db.webhookDelivery.findFirst({
      where: viewer.isAdmin ? { id } : { id, ownerId: viewer.userId },
      include: { attempts: { orderBy: { attempt: "asc" } } },
    });
  }

  /** Newest first; `hasMore` when another page follows. */
  async list(query: DeliveryListQuery): Promise<{ deliveries: (WebhookDeliveryRecord & { attempts: WebhookAttemptRecord[] })[]; hasMore: boolean }> {
    const where: Prisma.WebhookDeliveryWhereInput = {
      ...(query.viewer.isAdmin ? {} : { ownerId: query.viewer.userId }),
      ...(query.taskId ? { taskId: query.taskId } : {}),
      ...(query.batchId ? { batchId: query.batchId } : {}),
      ...(query.status ? { status: query.status } : {}),
      ...(query.after
        ? { OR: [{ createdAt: { lt: query.after.createdAt } }, { createdAt: query.after.createdAt, id: { lt: query.after.id } }] }
        : {}),
    };
    const rows = await this.db.webhookDelivery.findMany({
      where,
      orderBy: [{ createdAt: "desc" }, { id: "desc" }],
      take: query.limit + 1,
      include: { attempts: { orderBy: { attempt: "asc" } } },
    });
    return { deliveries: rows.slice(0, query.limit), hasMore: rows.length > query.limit };
  }

  /**
   * Records attempt number `attempt` and moves the delivery on, only if it is still pending and this is
   * its next attempt: a job run twice (a stalled worker) records nothing the second time. Returns false then.
   */
  async recordAttempt(id: string, attempt: number, outcome: AttemptOutcome): Promise<boolean> {
    return this.db.$transaction(async (tx) => {
      const { count } = await tx.webhookDelivery.updateMany({
        where: { id, status: "pending", attemptCount: attempt - 1 },
        data: {
          attemptCount: attempt,
          status: outcome.next.status,
          nextAttemptAt: outcome.next.status === "pending" ? outcome.next.at : null,
          lastError: outcome.next.status === "succeeded" ? null : (outcome.error ?? `HTTP ${outcome.statusCode}`),
          ...(outcome.next.status === "succeeded" ? { deliveredAt: new Date() } : {}),
        },
      });
      if (count === 0) return false;
      await tx.webhookAttempt.create({
        data: {
          deliveryId: id,
          attempt,
          startedAt: outcome.startedAt,
          durationMs: outcome.durationMs,
          statusCode: outcome.statusCode,
          error: outcome.error,
          responseBody: outcome.responseBody,
        },
      });
      return true;
    });
  }

  /** A finished delivery back to pending for one more attempt now; returns the attempt number to run, or null if it is still pending. */
  async reopen(id: string): Promise<number | null> {
    const { count } = await this.db.webhookDelivery.updateMany({
      where: { id, status: { in: ["succeeded", "failed"] } },
      data: { status: "pending", nextAttemptAt: new Date() },
    });
    if (count === 0) return null;
    const row = await this.db.webhookDelivery.findUnique({ where: { id }, select: { attemptCount: true } });
    return row ? row.attemptCount + 1 : null;
  }

  /** Pending deliveries whose next attempt was due before `before`: the sweeper makes sure each has its job. */
  async findDue(before: Date, limit: number): Promise<Pick<WebhookDeliveryRecord, "id" | "attemptCount">[]> {
    return this.db.webhookDelivery.findMany({
      where: { status: "pending", nextAttemptAt: { lt: before } },
      select: { id: true, attemptCount: true },
      orderBy: { nextAttemptAt: "asc" },
      take: limit,
    });
  }

  /**
   * One page of the tasks with a webhook that ended in [`after`, `before`), in (completed_at, task_id)
   * order from just past `after`: at most `limit` of them are read (from tasks_webhook_due_idx), whatever
   * they hold, and of those `missing` are the ones whose webhook wants their final event but that have no
   * delivery of it: a process died between the two writes; the sweeper sends them. `next` is the key of
   * the last row read when the page was full (read on from there), null when the window is done. A task
   * ends once, so any delivery of it but progress is its final one, whatever its type (`task.completed`,
   * or `response.incomplete` for a response, which is told in OpenAI's format). Reading a bounded page
   * rather than the whole window keeps each statement small however many tasks ended in it.
   */
  async tasksMissingFinalDelivery(after: FinalDeliveryCursor, before: Date, limit: number): Promise<{ missing: string[]; next: FinalDeliveryCursor | null }> {
    const rows = await this.db.$queryRaw<{ task_id: string; completed_at: Date; missing: boolean }[]>`
      SELECT p.task_id, p.completed_at,
             jsonb_exists(p.webhook -> 'events', lower(p.status::text))
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.task_id = p.task_id AND d.event_type NOT LIKE '%.progress') AS missing
        FROM (SELECT t.task_id, t.completed_at, t.status, t.webhook FROM tasks t
               WHERE t.webhook IS NOT NULL AND t.completed_at IS NOT NULL
                 AND t.completed_at >= ${after.at} AND (t.completed_at > ${after.at} OR t.task_id > ${after.id})
                 AND t.completed_at < ${before}
               ORDER BY t.completed_at, t.task_id
               LIMIT ${limit}) p
       ORDER BY p.completed_at, p.task_id`;
    const last = rows.at(-1);
    return {
      missing: rows.filter((row) => row.missing).map((row) => row.task_id),
      next: rows.length === limit && last ? { at: last.completed_at, id: last.task_id } : null,
    };
  }

  /** The same for batches that reached a final status. */
  async batchesMissingFinalDelivery(since: Date, limit: number): Promise<string[]> {
    const rows = await this.db.$queryRaw<{ id: string }[]>`
      SELECT b.id FROM batches b
       WHERE b.webhook IS NOT NULL AND b.status IN ('completed', 'failed', 'expired', 'cancelled')
         AND coalesce(b.completed_at, b.failed_at, b.expired_at, b.cancelled_at) >= ${since}
         AND jsonb_exists(b.webhook -> 'events', b.status)
         AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.batch_id = b.id AND d.event_type = 'batch.' || b.status)
       LIMIT ${limit}`;
    return rows.map((row) => row.id);
  }
}
