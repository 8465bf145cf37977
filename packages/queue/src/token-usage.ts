import type { RedisConnection } from "./connection";
import type { KeySpace } from "./keys";

/** Kept a little past its day, so the count of a day just ended can still be read. */
const COUNTER_TTL_SECONDS = 2 * 24 * 3600;

function utcDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}

/** Seconds until the next UTC midnight, when a daily quota starts again. */
export function secondsUntilUtcMidnight(at = new Date()): number {
  const midnight = Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate() + 1);
  return Math.max(1, Math.ceil((midnight - at.getTime()) / 1000));
}

/** Tokens (prompt + completion) each API key used per UTC day, counted in Redis by the workers. */
export class TokenUsage {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: KeySpace,
  ) {}

  async add(keyId: string, tokens: number, at = new Date()): Promise<void> {
    if (tokens <= 0) return;
    const key = this.keys.tokensUsed(keyId, utcDay(at));
    await this.redis.multi().incrby(key, tokens).expire(key, COUNTER_TTL_SECONDS).exec();
  }

  async usedToday(keyId: string, at = new Date()): Promise<number> {
    return Number((await this.redis.get(this.keys.tokensUsed(keyId, utcDay(at)))) ?? 0);
  }
}
