import { loadApiEnv } from "@llmq/api";
import { json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import { createAccount } from "./account-support";

// Issue 11, item 7: `trust proxy: loopback` let any local client choose its address with
// X-Forwarded-For (for the sign-in throttle), and `host_of_client_call_request` echoed any string.

const GARBAGE = ["<script>alert(1)</script>", "not-an-address", "203.0.113.7:8080", "300.1.2.3", "1.2.3.4 5.6.7.8", "[::1]"];

let untrusted: TestStack;
let loopback: TestStack;
let oneHop: TestStack;
beforeAll(async () => {
  [untrusted, loopback, oneHop] = await Promise.all([
    startTestStack({ worker: false }),
    startTestStack({ worker: false, env: { TRUST_PROXY: "loopback" } }),
    startTestStack({ worker: false, env: { TRUST_PROXY: "1" } }),
  ]);
});
afterAll(async () => {
  await Promise.all([untrusted?.close(), loopback?.close(), oneHop?.close()]);
});

/** `host_of_client_call_request` of a Flexstack answer sent with this X-Forwarded-For (and the raw body). */
async function hostSeen(stack: TestStack, forwardedFor: string): Promise<{ host: string; text: string }> {
  const res = await stack.request("/v1/ai/models", { headers: { "x-forwarded-for": forwardedFor } });
  expect(res.status).toBe(200);
  const text = await res.text();
  return { host: JSON.parse(text).host_of_client_call_request, text };
}

const login = (stack: TestStack, email: string, password: string, forwardedFor: string) =>
  fetch(`${stack.url}/v1/auth/login`, { method: "POST", headers: { "content-type": "application/json", "x-forwarded-for": forwardedFor }, body: JSON.stringify({ email, password }) });

describe("TRUST_PROXY unset (the default): no proxy is trusted", () => {
  it("X-Forwarded-For does not change host_of_client_call_request: it is the socket's address", async () => {
    for (const forwarded of ["203.0.113.7", "10.1.2.3, 203.0.113.9", ...GARBAGE]) {
      const { host, text } = await hostSeen(untrusted, forwarded);
      expect(host).toBe("127.0.0.1");
      expect(text).not.toContain(forwarded);
    }
  });

  it("X-Forwarded-For does not change the sign-in throttle's address: ten failures under ten addresses, the eleventh is 429", async () => {
    const target = await createAccount(untrusted);
    for (let i = 0; i < 10; i++) expect((await login(untrusted, target.email, `wrong ${i}`, `198.51.100.${i}`)).status).toBe(401);
    const refused = await login(untrusted, target.email, target.password, "198.51.100.99");
    expect(refused.status).toBe(429);
    expect((await json(refused)).errors[0].code).toBe("too_many_sign_in_attempts");
  });
});

describe("TRUST_PROXY=loopback: a proxy on this host names the client", () => {
  it("the forwarded address becomes host_of_client_call_request; garbage never appears, the socket's address does", async () => {
    expect((await hostSeen(loopback, "203.0.113.7")).host).toBe("203.0.113.7");
    expect((await hostSeen(loopback, "2001:db8::1")).host).toBe("2001:db8::1");
    for (const forwarded of GARBAGE) {
      const { host, text } = await hostSeen(loopback, forwarded);
      expect(host).toBe("127.0.0.1");
      expect(text).not.toContain(forwarded);
    }
  });

  it("the sign-in throttle counts per forwarded address: one address locked out, another still verified", async () => {
    const target = await createAccount(loopback);
    for (let i = 0; i < 10; i++) expect((await login(loopback, target.email, `wrong ${i}`, "198.51.100.1")).status).toBe(401);
    expect((await login(loopback, target.email, target.password, "198.51.100.1")).status).toBe(429);
    expect((await login(loopback, target.email, "wrong again", "198.51.100.2")).status).toBe(401);
    expect((await login(loopback, target.email, target.password, "198.51.100.2")).status).toBe(200);
  });
});

describe("TRUST_PROXY=1: one proxy hop", () => {
  it("takes the address that proxy added (the last), never one the client wrote before it", async () => {
    expect((await hostSeen(oneHop, "198.51.100.1, 203.0.113.9")).host).toBe("203.0.113.9");
    expect((await hostSeen(oneHop, "203.0.113.9")).host).toBe("203.0.113.9");
  });
});

describe("TRUST_PROXY values", () => {
  const parse = (value: string) => loadApiEnv({ ...untrusted.env, TRUST_PROXY: value }).TRUST_PROXY;

  it("accepts a hop count, or a list of addresses, CIDR ranges and the names loopback, linklocal, uniquelocal", () => {
    expect(loadApiEnv({ ...untrusted.env }).TRUST_PROXY).toBe(false);
    expect(parse("")).toBe(false);
    expect(parse("0")).toBe(false);
    expect(parse("2")).toBe(2);
    expect(parse("loopback")).toEqual(["loopback"]);
    expect(parse(" 10.0.0.0/8, uniquelocal ,192.168.1.20, fd00::/8,linklocal")).toEqual(["10.0.0.0/8", "uniquelocal", "192.168.1.20", "fd00::/8", "linklocal"]);
  });

  it("refuses `true`, ranges that trust every address, and anything that is not an address or range", () => {
    for (const value of ["true", "0.0.0.0/0", "::/0", "banana", "10.0.0.0/33", "10.0.0/8", "-1", "1.5", "loopback,,nonsense"]) {
      expect(() => parse(value)).toThrow(/TRUST_PROXY/);
    }
  });
});
