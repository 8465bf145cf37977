import { setTimeout as sleep } from "node:timers/promises";
import { RateLimitError } from "@llmq/core";
import { closeRedis, createRedis, keySpace } from "@llmq/queue";
import { testRedisUrl, uniquePrefix } from "@llmq/testkit";
import { LoginThrottle } from "../src/auth/login-throttle";

// The sign-in throttle counted in calendar minutes: ten wrong passwords in the last second of a minute
// and ten more in the first second of the next were all checked (twice the limit in two seconds). It
// now counts over a window that slides. Here the window is shortened to WINDOW_MS so the test can cross it.

const WINDOW_MS = 4_000;
const PER_ADDRESS = 3;
const PER_EMAIL = 5;

describe("the sign-in throttle's sliding window (real Redis)", () => {
  // Queues commands until connected (the API's fail-fast connection would refuse the first ones).
  const redis = createRedis(testRedisUrl(), { blocking: true });
  const throttle = new LoginThrottle(redis, keySpace(uniquePrefix()), { perAddress: PER_ADDRESS, perEmail: PER_EMAIL }, undefined, WINDOW_MS);
  afterAll(() => closeRedis(redis));
  let emails = 0;
  const nextEmail = () => `guessed${++emails}@example.test`;

  async function refusal(attempt: Promise<unknown>): Promise<RateLimitError> {
    const error = await attempt.then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(RateLimitError);
    return error as RateLimitError;
  }

  it("a burst on both sides of a calendar window's turn is not doubled: the limit holds over any WINDOW_MS", async () => {
    const email = nextEmail();
    // Start 700 ms before a multiple of the window (where a fixed window would begin anew).
    const untilTurn = WINDOW_MS - (Date.now() % WINDOW_MS);
    await sleep(untilTurn > 900 ? untilTurn - 700 : untilTurn + WINDOW_MS - 700);
    const started = Date.now();
    for (let i = 0; i < PER_ADDRESS; i++) await throttle.reserve(email, "192.0.2.1");
    // Past the turn now (a fixed window would have room again), well inside the sliding one.
    await sleep(1_400 - (Date.now() - started));
    const refused = await refusal(throttle.reserve(email, "192.0.2.1"));
    expect(refused.message).toContain("for this email from this address");
    expect(refused.code).toBe("too_many_sign_in_attempts");
    // The first attempt leaves the window about WINDOW_MS - 1.4 s from now: that is when to retry, not a whole window.
    expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(refused.retryAfterSeconds).toBeLessThan(WINDOW_MS / 1000);
    // Once the first attempts have left the window, there is room again.
    await sleep(WINDOW_MS + 300 - (Date.now() - started));
    await expect(throttle.reserve(email, "192.0.2.1")).resolves.toBeDefined();
  });

  it("a refused attempt is not recorded, a released one gives its place back", async () => {
    const email = nextEmail();
    const reservations = [];
    for (let i = 0; i < PER_ADDRESS; i++) reservations.push(await throttle.reserve(email, "192.0.2.2"));
    await refusal(throttle.reserve(email, "192.0.2.2"));
    await refusal(throttle.reserve(email, "192.0.2.2"));
    await throttle.release(reservations[0]!);
    await expect(throttle.reserve(email, "192.0.2.2")).resolves.toBeDefined();
    await refusal(throttle.reserve(email, "192.0.2.2"));
  });

  it("the per-email cap counts every address together, and the addresses' own logs apart", async () => {
    const email = nextEmail();
    for (let i = 0; i < PER_EMAIL; i++) await throttle.reserve(email, `198.51.100.${i}`);
    const refused = await refusal(throttle.reserve(email, "203.0.113.9"));
    expect(refused.message).toContain("for this email:");
    // Another email from the same addresses is not affected.
    await expect(throttle.reserve(nextEmail(), "198.51.100.0")).resolves.toBeDefined();
  });
});
