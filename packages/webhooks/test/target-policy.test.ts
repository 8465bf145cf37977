import { startWebhookReceiver } from "@llmq/testkit";
import { assertTargetAllowed, isAddressAllowed, parseTargetPolicy, postWebhook } from "../src";

const closed = parseTargetPolicy("");

describe("webhook target policy", () => {
  it.each([
    "127.0.0.1",
    "127.9.9.9",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.0.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fc00::1",
    "fe80::1",
    "::ffff:10.0.0.1",
    "::ffff:127.0.0.1",
  ])("refuses %s by default", (address) => {
    expect(isAddressAllowed(address, closed)).toBe(false);
  });

  it.each(["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8"])("allows the public address %s", (address) => {
    expect(isAddressAllowed(address, closed)).toBe(true);
  });

  it("allows exactly the ranges the operator lists", () => {
    const policy = parseTargetPolicy(" 10.0.0.0/8 , ::1/128,127.0.0.1/32");
    expect(isAddressAllowed("10.200.3.4", policy)).toBe(true);
    expect(isAddressAllowed("::ffff:10.1.1.1", policy)).toBe(true);
    expect(isAddressAllowed("::1", policy)).toBe(true);
    expect(isAddressAllowed("127.0.0.1", policy)).toBe(true);
    expect(isAddressAllowed("127.0.0.2", policy)).toBe(false);
    expect(isAddressAllowed("192.168.1.1", policy)).toBe(false);
  });

  it("rejects a configuration entry that is not a CIDR", () => {
    expect(() => parseTargetPolicy("10.0.0.0/8,intranet")).toThrow("'intranet' is not a CIDR range");
    expect(() => parseTargetPolicy("10.0.0.1")).toThrow("is not a CIDR range");
  });

  it("checks what a host name resolves to, not only literals", async () => {
    await expect(assertTargetAllowed("http://localhost:9/hook", closed)).rejects.toMatchObject({ param: "webhook.url", code: "webhook_target_refused" });
    await expect(assertTargetAllowed("http://localhost:9/hook", parseTargetPolicy("127.0.0.0/8,::1/128"))).resolves.toBeUndefined();
    await expect(assertTargetAllowed("http://no-such-host.invalid/hook", closed)).rejects.toThrow("does not resolve");
  });
});

describe("postWebhook", () => {
  it("connects only where the policy allows, at connection time too (a name that resolves inside is refused)", async () => {
    const receiver = await startWebhookReceiver();
    try {
      const port = new URL(receiver.url).port;
      const send = (url: string, cidrs: string) => postWebhook({ url, headers: {}, body: "{}", timeoutMs: 2_000, policy: parseTargetPolicy(cidrs) });

      const literal = await send(`http://127.0.0.1:${port}/a`, "");
      expect(literal).toMatchObject({ statusCode: null, refused: true });
      const named = await send(`http://localhost:${port}/b`, "");
      expect(named).toMatchObject({ statusCode: null, refused: true });
      expect(receiver.received).toHaveLength(0);

      const allowed = await send(`http://127.0.0.1:${port}/c`, "127.0.0.1/32");
      expect(allowed).toMatchObject({ statusCode: 200, refused: false, error: null });
      expect(receiver.at("/c")).toHaveLength(1);
    } finally {
      await receiver.close();
    }
  });

  it("does not follow redirects, reads at most a KiB of the answer, and honours Retry-After", async () => {
    const receiver = await startWebhookReceiver();
    try {
      receiver.answer("/moved", [{ status: 302, headers: { location: "http://169.254.169.254/" } }]);
      receiver.answer("/busy", [{ status: 429, headers: { "retry-after": "7" }, body: "x".repeat(10_000) }]);
      const policy = parseTargetPolicy("127.0.0.1/32");
      const moved = await postWebhook({ url: `${receiver.url}/moved`, headers: {}, body: "{}", timeoutMs: 2_000, policy });
      expect(moved.statusCode).toBe(302);
      expect(receiver.received).toHaveLength(1);
      const busy = await postWebhook({ url: `${receiver.url}/busy`, headers: {}, body: "{}", timeoutMs: 2_000, policy });
      expect(busy).toMatchObject({ statusCode: 429, retryAfterMs: 7_000 });
      expect(busy.responseBody).toHaveLength(1024);
    } finally {
      await receiver.close();
    }
  });
});
