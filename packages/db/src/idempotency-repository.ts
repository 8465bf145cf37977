import type { Database } from "./client";
import type { IdempotencyKey } from "./generated/prisma/client";

export type IdempotencyRecord = IdempotencyKey;

/** How long a key is honoured (Stripe's and the IETF draft's usual window). */
export const IDEMPOTENCY_KEY_TTL_MS = 24 * 3600_000;

/** Idempotency keys of POSTs that create tasks and batches (see the model's comment in schema.prisma). */
export class IdempotencyRepository {
  constructor(private readonly db: Database) {}

  /**
   * Claims `key` for a request about to create `resourceId`. Returns null when claimed (the key was free,
   * or its record past IDEMPOTENCY_KEY_TTL_MS), else the record that holds it.
   */
  async claim(claim: { ownerId: string; key: string; requestHash: string; resourceId: string }): Promise<IdempotencyRecord | null> {
    const expiredBefore = new Date(Date.now() - IDEMPOTENCY_KEY_TTL_MS);
    const claimed = await this.db.$queryRaw<{ resource_id: string }[]>`
      INSERT INTO idempotency_keys (owner_id, key, request_hash, resource_id, created_at)
      VALUES (${claim.ownerId}::uuid, ${claim.key}, ${claim.requestHash}, ${claim.resourceId}, now())
      ON CONFLICT (owner_id, key) DO UPDATE
         SET request_hash = EXCLUDED.request_hash, resource_id = EXCLUDED.resource_id, created_at = now()
       WHERE idempotency_keys.created_at < ${expiredBefore}
   RETURNING resource_id`;
    if (claimed.length === 1) return null;
    return this.db.idempotencyKey.findUnique({ where: { ownerId_key: { ownerId: claim.ownerId, key: claim.key } } });
  }

  /** Moves a claim whose resource was never created (its request died) to a new resource; false if another request did first. */
  async takeOver(ownerId: string, key: string, fromResourceId: string, toResourceId: string): Promise<boolean> {
    const { count } = await this.db.idempotencyKey.updateMany({ where: { ownerId, key, resourceId: fromResourceId }, data: { resourceId: toResourceId, createdAt: new Date() } });
    return count === 1;
  }

  /** Frees a claim whose request failed (bad input, service unavailable): nothing was created, the key may be used again. */
  async release(ownerId: string, key: string, resourceId: string): Promise<void> {
    await this.db.idempotencyKey.deleteMany({ where: { ownerId, key, resourceId } });
  }

  /** Forgets keys past IDEMPOTENCY_KEY_TTL_MS; returns how many. */
  async deleteExpired(limit: number): Promise<number> {
    const before = new Date(Date.now() - IDEMPOTENCY_KEY_TTL_MS);
    return this.db.$executeRaw`
      DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys WHERE created_at < ${before} LIMIT ${limit})`;
  }
}
