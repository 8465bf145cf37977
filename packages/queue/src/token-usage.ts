import type { RedisConnection } from "./connection";
import type { KeySpace } from "./keys";
import { LuaScript } from "./lua-script";

/** Kept a little past its day, so the count of a day just ended can still be read and settled. */
const COUNTER_TTL_SECONDS = 2 * 24 * 3600;

/**
 * INCRBY ARGV[1] then EXPIRE ARGV[2] on each key (a user's counter, and its key's: one hash slot), at once;
 * answers the new counts in KEYS' order. A script rather than MULTI: an ioredis MULTI block gives its
 * pipeline closures of its own, and every such block (one per completed task) was promoted by the young
 * collections (docs/performance.md, "young collections").
 */
const ADD_TO_COUNTERS = new LuaScript<number[]>(
  "local counts = {} for i, key in ipairs(KEYS) do counts[i] = redis.call('INCRBY', key, ARGV[1]) redis.call('EXPIRE', key, ARGV[2]) end return counts",
  null,
);

function utcDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}

/** Seconds until the next UTC midnight, when a daily quota starts again. */
export function secondsUntilUtcMidnight(at = new Date()): number {
  const midnight = Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate() + 1);
  return Math.max(1, Math.ceil((midnight - at.getTime()) / 1000));
}

/** Whose counters a task's tokens go to: always its user's, and its key's when it came with one. */
export interface TokenSubjects {
  userId: string;
  keyId: string | null;
}

/** Tokens per UTC day; 0 = no limit. */
export interface TokenLimits {
  key: number;
  user: number;
}

/** Today's counts; `key` is null for a caller without a key. */
export interface TokensUsed {
  key: number | null;
  user: number;
}

/** A refused reservation: which limit it would pass, that limit, and what was used before it. */
export interface ReservationRefusal {
  limit: "key" | "user";
  tokensPerDay: number;
  used: number;
}

/** A batch's reservation and real usage, from the store (BatchRepository): see TokenUsage.settleBatch. */
export interface BatchSettlementStore {
  settlementOf(batchId: string): Promise<{ ownerId: string; apiKeyId: string | null; reservedTokens: number; reservedAt: Date; usedTokens: number } | null>;
  markSettled(batchId: string): Promise<boolean>;
}

/**
 * Tokens (prompt + completion) used per UTC day, per user and per API key, in Redis so every process
 * shares them. Interactive tasks add what they used when they complete (workers); a batch reserves its
 * budget when it is admitted and settles it against its real usage once, when it ends.
 */
export class TokenUsage {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: KeySpace,
  ) {}

  private counters(subjects: TokenSubjects, day: string): { user: string; key: string | null } {
    // Both in the user's hash slot: one script (and one MGET) moves or reads them together on a Redis Cluster too.
    return { user: this.keys.tokensUsed(subjects.userId, null, day), key: subjects.keyId ? this.keys.tokensUsed(subjects.userId, subjects.keyId, day) : null };
  }

  /** Adds `tokens` (negative: gives back) to the day's counters of the user and of the key. */
  async add(subjects: TokenSubjects, tokens: number, at = new Date()): Promise<void> {
    if (tokens === 0) return;
    await this.addTo(this.counters(subjects, utcDay(at)), tokens);
  }

  /** Adds `tokens` to both counters at once; their new counts (the key's 0 without a key). */
  private async addTo(counters: { user: string; key: string | null }, tokens: number): Promise<{ user: number; key: number }> {
    const keys = counters.key ? [counters.user, counters.key] : [counters.user];
    const [user = 0, key = 0] = await ADD_TO_COUNTERS.run(this.redis, keys.length, ...keys, tokens, COUNTER_TTL_SECONDS);
    return { user: Number(user), key: Number(key) };
  }

  async usedToday(subjects: TokenSubjects, at = new Date()): Promise<TokensUsed> {
    const { user, key } = this.counters(subjects, utcDay(at));
    if (!key) return { user: Number((await this.redis.get(user)) ?? 0), key: null };
    const [userCount, keyCount] = await this.redis.mget(user, key);
    return { user: Number(userCount ?? 0), key: Number(keyCount ?? 0) };
  }

  /**
   * Adds `tokens` to today's counters unless that passes a limit (0: none) of the key or the user; then
   * nothing is added and the refusal says which. Both counters move in one script (atomic), and a refused
   * reservation is taken back at once: concurrent reservations never pass a limit together (one that
   * comes while another is being taken back may be refused: failing closed).
   */
  async reserve(subjects: TokenSubjects, tokens: number, limits: TokenLimits, at = new Date()): Promise<ReservationRefusal | null> {
    const counters = this.counters(subjects, utcDay(at));
    const key = counters.key;
    const { user: userNow, key: keyNow } = await this.addTo(counters, tokens);
    const refusal: ReservationRefusal | null =
      key && limits.key > 0 && keyNow > limits.key
        ? { limit: "key", tokensPerDay: limits.key, used: keyNow - tokens }
        : limits.user > 0 && userNow > limits.user
          ? { limit: "user", tokensPerDay: limits.user, used: userNow - tokens }
          : null;
    if (refusal && tokens !== 0) await this.addTo(counters, -tokens);
    return refusal;
  }

  /**
   * Replaces an ended batch's reservation by what its tasks really used, on the UTC day the reservation
   * went to, at most once (see BatchRepository.settlementOf / markSettled). Whatever a crash interrupts,
   * it fails closed: a batch that used more than it reserved adds the difference before it is marked
   * settled (a rerun may add it twice), one that used less is marked first and then gives the rest back
   * (a crash in between keeps the whole reservation counted).
   */
  async settleBatch(store: BatchSettlementStore, batchId: string): Promise<void> {
    const settlement = await store.settlementOf(batchId);
    if (!settlement) return;
    const subjects = { userId: settlement.ownerId, keyId: settlement.apiKeyId };
    const difference = settlement.usedTokens - settlement.reservedTokens;
    if (difference > 0) await this.add(subjects, difference, settlement.reservedAt);
    if (!(await store.markSettled(batchId))) return;
    if (difference < 0) await this.add(subjects, difference, settlement.reservedAt);
  }
}
