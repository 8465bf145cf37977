import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createApp } from "@llmq/api";
import { json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import { createAccount } from "./account-support";

// Issue 11, item 2: the failure count was read before argon2 ran and written after it, so a burst of
// simultaneous wrong passwords was verified in full (150 at once: 149 x 401 + 1 x 200).

const PER_ADDRESS = 10; // LOGIN_RATE_LIMIT_PER_MINUTE's default
const PER_EMAIL = 30; // LOGIN_RATE_LIMIT_PER_EMAIL_PER_MINUTE's default
const BURST = 150;

/** The API of `stack` on a socket of its own, whose AuthService counts the passwords it verifies. */
interface CountingApi {
  url: string;
  verified(): number;
  close(): Promise<void>;
}

async function countingApi(stack: TestStack): Promise<CountingApi> {
  const deps = stack.api.deps;
  let verified = 0;
  const auth = Object.create(deps.auth) as typeof deps.auth;
  auth.login = (email, password) => {
    verified += 1;
    return deps.auth.login(email, password);
  };
  const server: Server = createApp({ ...deps, auth }).listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    verified: () => verified,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function tally(statuses: number[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const status of statuses) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

/** BURST simultaneous sign-ins for one email, the right password once in the middle, the rest wrong. */
async function burst(api: CountingApi, email: string, password: string, forwardedFor?: (i: number) => string) {
  const answers = await Promise.all(
    Array.from({ length: BURST }, (_, i) =>
      fetch(`${api.url}/v1/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(forwardedFor ? { "x-forwarded-for": forwardedFor(i) } : {}) },
        body: JSON.stringify({ email, password: i === BURST / 2 ? password : `wrong guess ${i}` }),
      }),
    ),
  );
  const refused = answers.filter((res) => res.status === 429);
  for (const res of refused) expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
  const bodies = await Promise.all(refused.map((res) => json(res)));
  for (const body of bodies) expect(body.errors[0].code).toBe("too_many_sign_in_attempts");
  return tally(answers.map((res) => res.status));
}

let direct: TestStack;
let proxied: TestStack;
beforeAll(async () => {
  [direct, proxied] = await Promise.all([startTestStack({ worker: false }), startTestStack({ worker: false, env: { TRUST_PROXY: "loopback" } })]);
});
afterAll(async () => {
  await Promise.all([direct?.close(), proxied?.close()]);
});

describe("simultaneous sign-ins for one email (issue 11, item 2)", () => {
  it(`from one address: at most ${PER_ADDRESS} wrong passwords are verified, every other attempt is 429 before any password check`, async () => {
    const target = await createAccount(direct);
    const api = await countingApi(direct);
    try {
      const counts = await burst(api, target.email, target.password);
      // A successful sign-in gives its place back, so the right password may be one more verification.
      expect(counts[401] ?? 0).toBeLessThanOrEqual(PER_ADDRESS);
      expect(api.verified()).toBeLessThanOrEqual(PER_ADDRESS + 1);
      expect((counts[401] ?? 0) + (counts[200] ?? 0)).toBe(api.verified());
      expect(counts[429]).toBe(BURST - api.verified());
    } finally {
      await api.close();
    }
  });

  it(`from ${BURST} addresses (a trusted proxy's X-Forwarded-For): at most ${PER_EMAIL} verified, the per-email cap`, async () => {
    const target = await createAccount(proxied);
    const api = await countingApi(proxied);
    try {
      const counts = await burst(api, target.email, target.password, (i) => `198.51.100.${i}`);
      expect(counts[401] ?? 0).toBeLessThanOrEqual(PER_EMAIL);
      expect(api.verified()).toBeLessThanOrEqual(PER_EMAIL + 1);
      expect(counts[429]).toBe(BURST - api.verified());
      // The cap holds the email as a whole: the owner, from a fresh address, waits for the window too.
      const owner = await fetch(`${api.url}/v1/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": "203.0.113.200" },
        body: JSON.stringify({ email: target.email, password: target.password }),
      });
      expect(owner.status).toBe(429);
    } finally {
      await api.close();
    }
  });

  it("successful sign-ins do not count: ten of them, then ten wrong passwords are still each verified (401), the next is 429", async () => {
    const target = await createAccount(direct);
    const login = (password: string) =>
      fetch(`${direct.url}/v1/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email: target.email, password }) });
    const successes = await Promise.all(Array.from({ length: PER_ADDRESS }, () => login(target.password)));
    expect(successes.map((res) => res.status)).toEqual(Array(PER_ADDRESS).fill(200));
    for (let i = 0; i < PER_ADDRESS; i++) expect((await login(`wrong ${i}`)).status).toBe(401);
    expect((await login(target.password)).status).toBe(429);
  });
});
