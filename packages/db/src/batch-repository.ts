import { type Database, poolOf } from "./client";
import type { Batch, Prisma } from "./generated/prisma/client";
import { BATCH_STATUSES, type BatchStatus, type StoredWebhook } from "@llmq/core";
import type { Viewer } from "./task-repository";

export type BatchRecord = Batch;

/** OpenAI's batch statuses, in lifecycle order (the contract's, in @llmq/core). */
export { BATCH_STATUSES, type BatchStatus };

/** Statuses of a batch that has not ended: it counts against its owner's open batches and holds its input file. */
const OPEN_STATUSES_SQL = "('validating', 'in_progress', 'finalizing', 'cancelling')";
/** Statuses a batch ends in: its token reservation is then settled. */
const FINAL_STATUSES_SQL = "('completed', 'failed', 'expired', 'cancelled')";
const FINAL_STATUSES: readonly BatchStatus[] = ["completed", "failed", "expired", "cancelled"];

/** Batch $1's tasks per status, as a JSON object (statuses with none left out). */
const COUNT_ITEMS_SQL = "SELECT coalesce(jsonb_object_agg(status, n), '{}') FROM (SELECT status, count(*) AS n FROM tasks WHERE batch_id = $1 GROUP BY status) c";

/** Daily token limits a batch was admitted under (0: none), read back by the worker that ingests its file. */
export interface BatchTokenLimits {
  key: number;
  user: number;
}

/** What a finished batch's settlement needs: where its reservation went, and what its tasks really used. */
export interface BatchSettlement {
  ownerId: string;
  apiKeyId: string | null;
  reservedTokens: number;
  reservedAt: Date;
  usedTokens: number;
}

/** Why a batch was not created (see createWithinLimits). */
export type BatchRefusal = { refused: "too_many_open_batches"; open: number } | { refused: "file_in_use"; batchId: string };

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
  /** The API key that creates it (null: the admin key or a session). */
  apiKeyId?: string | null;
  /** Daily token limits to reserve against when the file is ingested (OpenAI batches); null: none. */
  tokenLimits?: BatchTokenLimits | null;
  /** A reservation already taken (native batches reserve before they are written). */
  reservedTokens?: number | null;
  reservedAt?: Date | null;
}

/** Per-status task counts of one batch. */
export type BatchCounts = Record<"PENDING" | "RUNNING" | "COMPLETED" | "FAILED" | "CANCELLED" | "EXPIRED", number>;

/** Batches and their conditional status changes. */
export class BatchRepository {
  constructor(private readonly db: Database) {}

  async create(batch: NewBatch): Promise<BatchRecord> {
    return this.createIn(this.db, batch);
  }

  private createIn(db: Pick<Database, "batch">, batch: NewBatch): Promise<BatchRecord> {
    return db.batch.create({
      data: {
        ...batch,
        metadata: batch.metadata ?? undefined,
        webhook: batch.webhook ? (batch.webhook as unknown as Prisma.InputJsonValue) : undefined,
        tokenLimits: batch.tokenLimits ? (batch.tokenLimits as unknown as Prisma.InputJsonValue) : undefined,
        reservedTokens: batch.reservedTokens === undefined || batch.reservedTokens === null ? undefined : BigInt(batch.reservedTokens),
      },
    });
  }

  /**
   * Creates the batch unless its owner already has `maxOpenPerOwner` open batches (0: no cap) or, for a
   * batch on an input file, another batch on that file is still open. Creations of one owner are
   * serialised by a transaction-scoped advisory lock, so concurrent requests cannot both pass a count.
   */
  async createWithinLimits(batch: NewBatch, maxOpenPerOwner: number): Promise<BatchRecord | BatchRefusal> {
    return this.db.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`batches:${batch.ownerId}`}, 0))`;
      if (maxOpenPerOwner > 0) {
        const [row] = await tx.$queryRawUnsafe<{ open: bigint }[]>(`SELECT count(*) AS open FROM batches WHERE owner_id = $1::uuid AND status IN ${OPEN_STATUSES_SQL}`, batch.ownerId);
        const open = Number(row?.open ?? 0);
        if (open >= maxOpenPerOwner) return { refused: "too_many_open_batches", open } as const;
      }
      if (batch.inputFileId) {
        const [holder] = await tx.$queryRawUnsafe<{ id: string }[]>(`SELECT id FROM batches WHERE input_file_id = $1 AND status IN ${OPEN_STATUSES_SQL} LIMIT 1`, batch.inputFileId);
        if (holder) return { refused: "file_in_use", batchId: holder.id } as const;
      }
      return this.createIn(tx, batch);
    });
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
    // An ended batch's items are all final (it ends once none is open), so its counts cannot change: kept on
    // its row, every later read of them is one row. Should this fail, counts() counts the items instead.
    if (count === 1 && FINAL_STATUSES.includes(to)) {
      await poolOf(this.db).query(`UPDATE batches SET final_counts = (${COUNT_ITEMS_SQL}) WHERE id = $1 AND final_counts IS NULL`, [id]);
    }
    return count === 1;
  }

  /**
   * Records the token reservation taken for a batch's file at ingest, only while the batch is validating
   * and has none yet; false otherwise (cancelled meanwhile, or reserved by an earlier run of the ingest).
   */
  async recordReservation(id: string, tokens: number, at: Date): Promise<boolean> {
    const { count } = await this.db.batch.updateMany({ where: { id, status: "validating", reservedTokens: null }, data: { reservedTokens: BigInt(tokens), reservedAt: at } });
    return count === 1;
  }

  /**
   * A batch that ended with its reservation not settled yet: the reservation and its tasks' real usage
   * (prompt + completion tokens, however far each task went). Null when there is nothing to settle.
   */
  async settlementOf(id: string): Promise<BatchSettlement | null> {
    const { rows } = await poolOf(this.db).query<{ owner_id: string; api_key_id: string | null; reserved_tokens: string; reserved_at: Date; used: string }>(
      `SELECT b.owner_id, b.api_key_id, b.reserved_tokens, b.reserved_at,
              (SELECT coalesce(sum(coalesce(t.prompt_tokens, 0) + t.completion_tokens), 0) FROM tasks t WHERE t.batch_id = b.id) AS used
         FROM batches b
        WHERE b.id = $1 AND b.settled_at IS NULL AND b.reserved_tokens IS NOT NULL AND b.status IN ${FINAL_STATUSES_SQL}`,
      [id],
    );
    const row = rows[0];
    return row ? { ownerId: row.owner_id, apiKeyId: row.api_key_id, reservedTokens: Number(row.reserved_tokens), reservedAt: row.reserved_at, usedTokens: Number(row.used) } : null;
  }

  /** Marks a batch's reservation settled, once: false if it already was. */
  async markSettled(id: string): Promise<boolean> {
    const { count } = await this.db.batch.updateMany({ where: { id, settledAt: null, reservedTokens: { not: null } }, data: { settledAt: new Date() } });
    return count === 1;
  }

  /** Ids of ended batches whose reservation is not settled (a process died in between): the sweeper settles them. */
  async findUnsettled(limit: number): Promise<string[]> {
    const { rows } = await poolOf(this.db).query<{ id: string }>(
      `SELECT id FROM batches WHERE settled_at IS NULL AND reserved_tokens IS NOT NULL AND status IN ${FINAL_STATUSES_SQL} LIMIT $1`,
      [limit],
    );
    return rows.map((row) => row.id);
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

  /**
   * Per-status counts of a batch's tasks: those it ended with (`final_counts`, kept by `transition`) when
   * they add up to its total, else counted now over its items (tasks_batch_idx: a read of every item,
   * 50,000 for the largest). Kept counts short of the total mean rows came in after the batch ended (an
   * ingest still writing the lines of a batch cancelled meanwhile): those are counted. In one statement:
   * COALESCE evaluates the count only when no kept counts apply.
   */
  async counts(batchId: string): Promise<BatchCounts> {
    const { rows } = await poolOf(this.db).query<{ counts: Partial<BatchCounts> | null }>(
      `SELECT coalesce(
         (SELECT final_counts FROM batches WHERE id = $1 AND (SELECT sum(value::int) FROM jsonb_each_text(final_counts)) = total_count),
         (${COUNT_ITEMS_SQL})) AS counts`,
      [batchId],
    );
    return { PENDING: 0, RUNNING: 0, COMPLETED: 0, FAILED: 0, CANCELLED: 0, EXPIRED: 0, ...rows[0]?.counts };
  }
}
