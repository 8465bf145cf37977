import { createHash } from "node:crypto";
import { RateLimitError } from "@llmq/core";
import type { KeySpace, RedisConnection } from "@llmq/queue";

const WINDOW_MS = 60_000;

/**
 * Checks both counters and, when neither is full, counts the attempt in both: one atomic step, so
 * simultaneous attempts cannot all read the same count. Returns 0 (counted), 1 (this address is
 * full) or 2 (this email is full). A limit of 0 leaves its counter alone.
 * KEYS: per (email, address), per email; ARGV: their limits, the window in ms.
 */
const RESERVE = `
local limits = { tonumber(ARGV[1]), tonumber(ARGV[2]) }
for i = 1, 2 do
  if limits[i] > 0 and tonumber(redis.call('GET', KEYS[i]) or '0') >= limits[i] then return i end
end
for i = 1, 2 do
  if limits[i] > 0 then
    redis.call('INCR', KEYS[i])
    redis.call('PEXPIRE', KEYS[i], ARGV[3])
  end
end
return 0`;

/** Gives an attempt back; a counter that expired meanwhile is not brought back below zero. */
const RELEASE = `
for i = 1, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
return 0`;

/** An attempt counted by `reserve`, to give back with `release` when it turned out not to be a failure. */
interface LoginReservation {
  keys: string[];
}

/**
 * Failed sign-ins per email, in one-minute windows in Redis (shared by every API process): at most
 * `perAddress` from one client address, and `perEmail` from all addresses together, so guesses spread
 * over many addresses are capped too. An attempt is counted BEFORE its password is checked and given
 * back if the sign-in succeeds: simultaneous attempts cannot all pass a count read before any of them
 * was recorded, and successful sign-ins never count. Over either limit: 429, no password checked.
 */
export class LoginThrottle {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: KeySpace,
    private readonly limits: { perAddress: number; perEmail: number },
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {}

  /** Counts one attempt for (email, address) and for email; 429 `too_many_sign_in_attempts` when either is full. */
  async reserve(email: string, address: string): Promise<LoginReservation> {
    const { perAddress, perEmail } = this.limits;
    if (perAddress <= 0 && perEmail <= 0) return { keys: [] };
    const now = Date.now();
    const window = Math.floor(now / WINDOW_MS);
    // The email's hash is the hash tag: both counters live in one Redis Cluster slot, as one script needs.
    const subject = `login:{${createHash("sha256").update(email.trim().toLowerCase()).digest("hex").slice(0, 32)}}`;
    const addressKey = this.keys.rateWindow(`${subject}:ip:${address}`, window);
    const emailKey = this.keys.rateWindow(`${subject}:any`, window);
    const full = Number(await this.redis.eval(RESERVE, 2, addressKey, emailKey, perAddress, perEmail, WINDOW_MS));
    if (full !== 0) {
      const retryAfterSeconds = Math.max(1, Math.ceil(((window + 1) * WINDOW_MS - now) / 1000));
      const scope = full === 1 ? "for this email from this address" : "for this email";
      throw new RateLimitError(`Too many failed sign-ins ${scope}: retry in ${retryAfterSeconds} s.`, { retryAfterSeconds, code: "too_many_sign_in_attempts" });
    }
    return { keys: [perAddress > 0 ? addressKey : null, perEmail > 0 ? emailKey : null].filter((key): key is string => key !== null) };
  }

  /** Gives a reserved attempt back (a successful sign-in does not count). Never rejects. */
  async release(reservation: LoginReservation): Promise<void> {
    if (reservation.keys.length === 0) return;
    try {
      await this.redis.eval(RELEASE, reservation.keys.length, ...reservation.keys);
    } catch (error) {
      this.onError(error);
    }
  }
}
