import { createHash, randomUUID } from "node:crypto";
import { RateLimitError } from "@llmq/core";
import { type KeySpace, LuaScript, type RedisConnection } from "@llmq/queue";

/** The window the limits count over (LOGIN_RATE_LIMIT_*_PER_MINUTE). */
const MINUTE_MS = 60_000;

/**
 * Checks both logs and, when neither is full, records the attempt in both: one atomic step, so
 * simultaneous attempts cannot all read the same count. Each log is a sorted set of the attempts of the
 * last window, scored by Redis's clock (one clock for every API process); older ones are dropped first.
 * Returns {0, 0} (recorded), or {1 or 2, ms until a place frees} when the address's (1) or the email's (2)
 * log is full. A limit of 0 leaves its log alone.
 * KEYS: per (email, address), per email; ARGV: their limits, the window in ms, the attempt's id.
 */
const RESERVE = new LuaScript<[number, number]>(
  `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[3])
local limits = { tonumber(ARGV[1]), tonumber(ARGV[2]) }
for i = 1, 2 do
  if limits[i] > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
    local count = redis.call('ZCARD', KEYS[i])
    if count >= limits[i] then
      -- A place frees when the attempt (count - limit) places from the oldest leaves the window.
      local freeing = redis.call('ZRANGE', KEYS[i], count - limits[i], count - limits[i], 'WITHSCORES')
      return { i, tonumber(freeing[2]) + window - now }
    end
  end
end
for i = 1, 2 do
  if limits[i] > 0 then
    redis.call('ZADD', KEYS[i], now, ARGV[4])
    redis.call('PEXPIRE', KEYS[i], window)
  end
end
return { 0, 0 }`,
  2,
);

/** An attempt recorded by `reserve`, to give back with `release` when it turned out not to be a failure. */
interface LoginReservation {
  keys: string[];
  id: string;
}

/**
 * Failed sign-ins per email over a sliding window of one minute, in Redis (shared by every API process):
 * at most `perAddress` in any 60 seconds from one client address, and `perEmail` from all addresses
 * together, so guesses spread over many addresses are capped too. A window that slides (a log of the
 * attempts' times, not a counter per calendar minute) cannot be doubled by guessing on both sides of a
 * minute's turn. An attempt is recorded BEFORE its password is checked and given back if the sign-in
 * succeeds: simultaneous attempts cannot all pass a count read before any of them was recorded, and
 * successful sign-ins never count. Over either limit: 429 with the seconds until a place frees, no
 * password checked; a refused attempt is not recorded, so waiting is all it takes.
 */
export class LoginThrottle {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: KeySpace,
    private readonly limits: { perAddress: number; perEmail: number },
    private readonly onError: (error: unknown) => void = () => undefined,
    /** The sliding window's length (a minute; tests shorten it). */
    private readonly windowMs = MINUTE_MS,
  ) {}

  /** Records one attempt for (email, address) and for email; 429 `too_many_sign_in_attempts` when either is full. */
  async reserve(email: string, address: string): Promise<LoginReservation> {
    const { perAddress, perEmail } = this.limits;
    const id = randomUUID();
    if (perAddress <= 0 && perEmail <= 0) return { keys: [], id };
    // The email's hash is the hash tag: both logs live in one Redis Cluster slot, as one script needs.
    const subject = `login:{${createHash("sha256").update(email.trim().toLowerCase()).digest("hex").slice(0, 32)}}`;
    const addressKey = this.keys.rateLog(`${subject}:ip:${address}`);
    const emailKey = this.keys.rateLog(`${subject}:any`);
    const [full, waitMs] = await RESERVE.run(this.redis, addressKey, emailKey, perAddress, perEmail, this.windowMs, id);
    if (full !== 0) {
      const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
      const scope = full === 1 ? "for this email from this address" : "for this email";
      throw new RateLimitError(`Too many failed sign-ins ${scope}: retry in ${retryAfterSeconds} s.`, { retryAfterSeconds, code: "too_many_sign_in_attempts" });
    }
    return { keys: [perAddress > 0 ? addressKey : null, perEmail > 0 ? emailKey : null].filter((key): key is string => key !== null), id };
  }

  /** Gives a recorded attempt back (a successful sign-in does not count). Never rejects. */
  async release(reservation: LoginReservation): Promise<void> {
    if (reservation.keys.length === 0) return;
    try {
      // Both logs share a hash slot: one MULTI, one round trip.
      await this.redis.multi(reservation.keys.map((key) => ["zrem", key, reservation.id])).exec();
    } catch (error) {
      this.onError(error);
    }
  }
}
