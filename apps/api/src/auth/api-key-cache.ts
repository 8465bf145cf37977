import { type ActiveApiKey, hashApiKey } from "@llmq/db";
import type { CredentialSubscription } from "@llmq/queue";

export interface ApiKeyCacheOptions {
  /** The key with this hash, its user and the user's key totals, from the database (null: no live key). */
  lookup(keyHash: string): Promise<ActiveApiKey | null>;
  /** How long a resolved key is served without asking the database again (0: no cache). */
  ttlMs: number;
  /** Most keys kept; past it the oldest is dropped. */
  maxEntries?: number;
  /**
   * The credentials epoch, raised with every announced change (CredentialChanges): read on each request
   * that would be served from the cache, so a change made on another process a moment ago is seen even
   * if its message has not arrived yet. One Redis GET instead of a database query.
   */
  epoch?: () => Promise<string | null>;
}

const DEFAULT_MAX_ENTRIES = 10_000;

/**
 * Resolved API keys, by the SHA-256 of their secret (the secret itself is not kept), so a poll with a
 * user's key costs no query. Revocation stays immediate in every API process: every credential change
 * (a revoked key, a deleted, demoted or promoted user, changed limits, a new key changing its user's
 * key totals) raises a credentials epoch in Redis and is announced on pub/sub before the request that
 * made it is answered; each process reads the epoch before serving a key from memory (one GET, so a
 * change whose message is still on its way is seen at once) and drops its whole cache when the epoch
 * moved or the message arrives (changes are rare: a few refills are cheaper
 * than tracking which entries a change touches). The cache is not used while the subscription is down,
 * and dropped again when it is back, since messages published meanwhile are lost. A lookup that was
 * under way when the cache was dropped does not put its (possibly stale) answer in. The TTL bounds how
 * long a change made in the database by hand (not through the API, so not announced) goes unseen.
 * Unknown keys are never cached: a made-up key always costs its query, as before.
 */
export class ApiKeyCache {
  private readonly entries = new Map<string, { key: ActiveApiKey; expiresAt: number }>();
  /** Bumped at every drop: a lookup started under an older generation keeps its answer to itself. */
  private generation = 0;
  /** Where credential changes are heard; until `follow` is called (and while it is not listening) nothing is cached. */
  private subscription: CredentialSubscription | null = null;
  /** The epoch the cached keys were resolved under (undefined: not read yet). */
  private seenEpoch: string | null | undefined = undefined;

  constructor(private readonly options: ApiKeyCacheOptions) {}

  /** Starts caching, trusting `subscription` to deliver every change (through `clear`) while it listens. */
  follow(subscription: CredentialSubscription): void {
    this.subscription = subscription;
    this.clear();
  }

  private listening(): boolean {
    return this.subscription?.listening() === true;
  }

  /** The live key with this secret (with its user and totals), or null. */
  async resolve(secret: string): Promise<ActiveApiKey | null> {
    return this.resolveHash(hashApiKey(secret));
  }

  /** As resolve, by the secret's hash (hashApiKey), for a caller that already hashed it. */
  async resolveHash(keyHash: string): Promise<ActiveApiKey | null> {
    let caching = this.options.ttlMs > 0 && this.listening();
    if (caching && this.options.epoch) {
      const epoch = await this.options.epoch().then(
        (value) => value,
        () => undefined,
      );
      if (epoch === undefined) caching = false;
      else if (epoch !== this.seenEpoch) {
        this.clear();
        this.seenEpoch = epoch;
      }
    }
    if (caching) {
      const entry = this.entries.get(keyHash);
      if (entry && entry.expiresAt > Date.now()) return entry.key;
      if (entry) this.entries.delete(keyHash);
    }
    const generation = this.generation;
    const key = await this.options.lookup(keyHash);
    if (key && caching && generation === this.generation && this.listening()) this.remember(keyHash, key);
    return key;
  }

  /** Forgets every key: called on each credential change and each gap in hearing them. */
  clear(): void {
    this.generation += 1;
    this.entries.clear();
  }

  /** Keys held (tests, metrics). */
  size(): number {
    return this.entries.size;
  }

  private remember(keyHash: string, key: ActiveApiKey): void {
    if (this.entries.size >= (this.options.maxEntries ?? DEFAULT_MAX_ENTRIES)) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(keyHash, { key, expiresAt: Date.now() + this.options.ttlMs });
  }
}
