import { createHash } from "node:crypto";
import { RateLimitError } from "@llmq/core";
import type { KeySpace, RedisConnection } from "@llmq/queue";

const WINDOW_MS = 60_000;

/**
 * Failed sign-ins per email and client address in a one-minute window (in Redis, shared by every API
 * process). Past the limit the next attempt is refused with 429 before any password is checked, so
 * guessing is slow; successful sign-ins never count, and the owner elsewhere is not locked out.
 */
export class LoginThrottle {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: KeySpace,
    private readonly perMinute: number,
  ) {}

  private key(email: string, address: string, window: number): string {
    const emailHash = createHash("sha256").update(email.toLowerCase()).digest("hex").slice(0, 32);
    return this.keys.rateWindow(`login:${address}:${emailHash}`, window);
  }

  /** 429 when this email has failed `perMinute` times from this address in the current minute. */
  async assertAllowed(email: string, address: string): Promise<void> {
    if (this.perMinute <= 0) return;
    const now = Date.now();
    const window = Math.floor(now / WINDOW_MS);
    const failures = Number((await this.redis.get(this.key(email, address, window))) ?? 0);
    if (failures >= this.perMinute) {
      const retryAfterSeconds = Math.ceil(((window + 1) * WINDOW_MS - now) / 1000);
      throw new RateLimitError(`Too many failed sign-ins for this email: retry in ${retryAfterSeconds} s.`, { retryAfterSeconds, code: "too_many_sign_in_attempts" });
    }
  }

  async recordFailure(email: string, address: string): Promise<void> {
    if (this.perMinute <= 0) return;
    const key = this.key(email, address, Math.floor(Date.now() / WINDOW_MS));
    await this.redis.multi().incr(key).pexpire(key, WINDOW_MS).exec();
  }
}
