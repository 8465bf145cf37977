import { ConflictError, IdempotencyKeyReusedError } from "@llmq/core";
import type { IdempotencyRepository } from "@llmq/db";

/** A claim whose resource still does not exist after this long belongs to a request that died: it may be taken over. */
const ABANDONED_CLAIM_MS = 60_000;
/** How long a repeated request waits for the first one to create the resource before answering 409. */
const WAIT_FOR_FIRST_MS = 10_000;
const POLL_MS = 25;

/** What an `Idempotency-Key` claims: this owner's key, for this request (its hash; see http/idempotency.ts). */
export interface IdempotencyClaim {
  ownerId: string;
  key: string;
  requestHash: string;
}

/**
 * `Idempotency-Key` on POSTs that create tasks or batches: the first request creates the resource (with
 * an id chosen before the key is claimed), a repeat with the same request answers with that resource,
 * a repeat with another request is refused (422), and concurrent repeats wait for the first.
 */
export class IdempotencyService {
  constructor(private readonly repo: IdempotencyRepository) {}

  async once<T>(
    claim: IdempotencyClaim | null,
    newId: () => string,
    ops: { create: (id: string) => Promise<T>; find: (id: string) => Promise<T | null> },
  ): Promise<{ value: T; replayed: boolean }> {
    if (claim === null) return { value: await ops.create(newId()), replayed: false };
    const { ownerId, key, requestHash: hash } = claim;
    const id = newId();
    const createOrRelease = async () => {
      try {
        return { value: await ops.create(id), replayed: false };
      } catch (error) {
        // Nothing was created (bad input, queue unavailable): the key stays free for the corrected retry.
        await this.repo.release(ownerId, key, id).catch(() => undefined);
        throw error;
      }
    };

    const giveUpAt = Date.now() + WAIT_FOR_FIRST_MS;
    for (;;) {
      const holder = await this.repo.claim({ ownerId, key, requestHash: hash, resourceId: id });
      if (!holder) return createOrRelease();
      if (holder.requestHash !== hash) {
        throw new IdempotencyKeyReusedError("This Idempotency-Key was used with a different request (method, path, query or body) in the last 24 hours; use a new key for a new request.");
      }
      const existing = await ops.find(holder.resourceId);
      if (existing !== null) return { value: existing, replayed: true };
      if (Date.now() - holder.createdAt.getTime() > ABANDONED_CLAIM_MS && (await this.repo.takeOver(ownerId, key, holder.resourceId, id))) return createOrRelease();
      if (Date.now() > giveUpAt) {
        throw new ConflictError("A request with this Idempotency-Key is still being processed; retry shortly.", { code: "idempotency_request_in_progress", param: "Idempotency-Key", retryAfterSeconds: 1 });
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
}
