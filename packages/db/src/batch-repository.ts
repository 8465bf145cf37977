import type { Database } from "./client";
import type { Batch, Prisma } from "./generated/prisma/client";
import type { StoredWebhook } from "@llmq/core";
import type { Viewer } from "./task-repository";

export type BatchRecord = Batch;

/** OpenAI's batch statuses, in lifecycle order. */
export const BATCH_STATUSES = ["validating", "failed", "in_progress", "finalizing", "completed", "expired", "cancelling", "cancelled"] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];

/** The timestamp column each status sets when a batch enters it. */
const ENTERED_AT: Partial<Record<BatchStatus, keyof Batch>> = {
  in_progress: "inProgressAt",
  finalizing: "finalizingAt",
  completed: "completedAt",
  failed: "failedAt",
  expired: "expiredAt",
  cancelling: "cancellingAt",
  cancelled: "cancelledAt",
};

export interface NewBatch {
  id: string;
  ownerId: string;
  kind: "openai" | "native";
  endpoint: string;
  inputFileId: string | null;
  completionWindow: string;
  metadata: Record<string, string> | null;
  expiresAt: Date;
  status: BatchStatus;
  /** Known at creation when the requests come in the call itself (native batches). */
  totalCount?: number;
  webhook?: StoredWebhook | null;
}

/** Per-status task counts of one batch. */
export type BatchCounts = Record<"PENDING" | "RUNNING" | "COMPLETED" | "FAILED" | "CANCELLED" | "EXPIRED", number>;

/** Batches and their conditional status changes. */
export class BatchRepository {
  constructor(private readonly db: Database) {}

  async create(batch: NewBatch): Promise<BatchRecord> {
    return this.db.batch.create({ data: { ...batch, metadata: batch.metadata ?? undefined, webhook: batch.webhook ? (batch.webhook as unknown as Prisma.InputJsonValue) : undefined } });
  }

  /** Deletes a batch and, by cascade, its tasks (a native batch whose creation failed half way). */
  async delete(id: string): Promise<void> {
    await this.db.batch.deleteMany({ where: { id } });
  }

  /** The batch if `viewer` may see it; null otherwise (other tenants never learn it exists). */
  async findVisible(id: string, viewer: Viewer): Promise<BatchRecord | null> {
    return this.db.batch.findFirst({ where: viewer.isAdmin ? { id } : { id, ownerId: viewer.userId } });
  }

  async findById(id: string): Promise<BatchRecord | null> {
    return this.db.batch.findUnique({ where: { id } });
  }

  /** Newest first, after the batch `after` (its id), `limit` at most, plus whether more exist. */
  async list(viewer: Viewer, options: { after?: string; limit: number; kind?: "openai" | "native" }): Promise<{ batches: BatchRecord[]; hasMore: boolean }> {
    const owner = viewer.isAdmin ? {} : { ownerId: viewer.userId };
    const anchor = options.after ? await this.db.batch.findFirst({ where: { id: options.after, ...owner } }) : null;
    const rows = await this.db.batch.findMany({
      where: {
        ...owner,
        ...(options.kind ? { kind: options.kind } : {}),
        ...(anchor ? { OR: [{ createdAt: { lt: anchor.createdAt } }, { createdAt: anchor.createdAt, id: { lt: anchor.id } }] } : {}),
      },
      orderBy: [{ createdAt: "desc" }, { id: "desc" }],
      take: options.limit + 1,
    });
    return { batches: rows.slice(0, options.limit), hasMore: rows.length > options.limit };
  }

  /** Moves a batch from one of `from` to `to`, stamping the entry time; false if it was elsewhere. */
  async transition(id: string, from: readonly BatchStatus[], to: BatchStatus, data: Prisma.BatchUpdateManyMutationInput = {}): Promise<boolean> {
    const stamp = ENTERED_AT[to];
    const { count } = await this.db.batch.updateMany({
      where: { id, status: { in: [...from] } },
      data: { ...data, status: to, ...(stamp ? { [stamp]: new Date() } : {}) },
    });
    return count === 1;
  }

  /** Batches whose tasks may still move: candidates for finalization and expiry. */
  async findOpen(limit: number): Promise<BatchRecord[]> {
    return this.db.batch.findMany({ where: { status: { in: ["in_progress", "cancelling", "finalizing"] } }, orderBy: { createdAt: "asc" }, take: limit });
  }

  /** Batches stuck in validating (their ingest job may have been lost). */
  /** Deletes the batch (and its tasks) only if it still has `status`; returns whether it did. */
  async deleteIfStatus(id: string, status: BatchStatus): Promise<boolean> {
    const { count } = await this.db.batch.deleteMany({ where: { id, status } });
    return count === 1;
  }

  async findValidatingBefore(before: Date, limit: number): Promise<BatchRecord[]> {
    return this.db.batch.findMany({ where: { status: "validating", createdAt: { lt: before } }, take: limit });
  }

  async counts(batchId: string): Promise<BatchCounts> {
    const groups = await this.db.task.groupBy({ by: ["status"], where: { batchId }, _count: { _all: true } });
    const counts: BatchCounts = { PENDING: 0, RUNNING: 0, COMPLETED: 0, FAILED: 0, CANCELLED: 0, EXPIRED: 0 };
    for (const group of groups) counts[group.status] = group._count._all;
    return counts;
  }
}
