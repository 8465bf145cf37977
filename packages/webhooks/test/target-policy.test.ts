import { freePort, startNotHttpServer, startWebhookReceiver } from "@llmq/testkit";
import { assertTargetAllowed, isAddressAllowed, parseAllowedPorts, parseTargetPolicy, postWebhook, responseExcerpt } from "../src";

const closed = parseTargetPolicy("");
const granted = { privateTargets: true };
const notGranted = { privateTargets: false };

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
    expect(isAddressAllowed(address, closed, granted)).toBe(false);
  });

  it.each([
    ["IPv4-compatible loopback", "::7f00:1"],
    ["IPv4-compatible loopback, dotted", "::127.0.0.1"],
    ["IPv4-compatible private", "::a00:1"],
    ["IPv4-compatible metadata service", "::a9fe:a9fe"],
    ["IPv4-compatible public address (deprecated form, never public)", "::808:808"],
    ["NAT64 of loopback", "64:ff9b::7f00:1"],
    ["6to4 of loopback", "2002:7f00:1::1"],
    ["IPv6 outside global unicast 2000::/3", "4000::1"],
  ])("refuses %s (%s) by default", (_what, address) => {
    expect(isAddressAllowed(address, closed, granted)).toBe(false);
  });

  it.each(["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8"])("allows the public address %s", (address) => {
    expect(isAddressAllowed(address, closed, notGranted)).toBe(true);
  });

  it("allows exactly the ranges the operator lists, to callers granted private targets", () => {
    const policy = parseTargetPolicy(" 10.0.0.0/8 , ::1/128,127.0.0.1/32");
    expect(isAddressAllowed("10.200.3.4", policy, granted)).toBe(true);
    expect(isAddressAllowed("::ffff:10.1.1.1", policy, granted)).toBe(true);
    expect(isAddressAllowed("::1", policy, granted)).toBe(true);
    expect(isAddressAllowed("127.0.0.1", policy, granted)).toBe(true);
    expect(isAddressAllowed("127.0.0.2", policy, granted)).toBe(false);
    expect(isAddressAllowed("192.168.1.1", policy, granted)).toBe(false);
  });

  it("an allowed private range is only a ceiling: a caller without the grant is refused it", () => {
    const policy = parseTargetPolicy("10.0.0.0/8,127.0.0.1/32");
    for (const address of ["10.200.3.4", "127.0.0.1", "::ffff:127.0.0.1", "::7f00:1"]) {
      expect({ address, allowed: isAddressAllowed(address, policy, notGranted) }).toEqual({ address, allowed: false });
    }
  });

  it("judges IPv4-compatible and IPv4-mapped forms as the IPv4 address they carry", () => {
    const policy = parseTargetPolicy("127.0.0.1/32");
    expect(isAddressAllowed("::7f00:1", policy, granted)).toBe(true);
    expect(isAddressAllowed("::ffff:7f00:1", policy, granted)).toBe(true);
    expect(isAddressAllowed("::7f00:2", policy, granted)).toBe(false);
    expect(isAddressAllowed("::ffff:7f00:2", policy, granted)).toBe(false);
  });

  it("rejects a configuration entry that is not a CIDR", () => {
    expect(() => parseTargetPolicy("10.0.0.0/8,intranet")).toThrow("'intranet' is not a CIDR range");
    expect(() => parseTargetPolicy("10.0.0.1")).toThrow("is not a CIDR range");
  });

  it("checks what a host name resolves to, not only literals, and the key's grant", async () => {
    const loopback = parseTargetPolicy("127.0.0.0/8,::1/128");
    await expect(assertTargetAllowed("http://localhost:9000/hook", closed, async () => true)).rejects.toMatchObject({ param: "webhook.url", code: "webhook_target_refused" });
    await expect(assertTargetAllowed("http://localhost:9000/hook", loopback, async () => true)).resolves.toBeUndefined();
    await expect(assertTargetAllowed("http://localhost:9000/hook", loopback, async () => false)).rejects.toMatchObject({ param: "webhook.url", code: "webhook_target_refused" });
    await expect(assertTargetAllowed("http://[::7f00:1]:9000/hook", closed, async () => true)).rejects.toMatchObject({ code: "webhook_target_refused" });
    await expect(assertTargetAllowed("http://no-such-host.invalid/hook", closed, async () => true)).rejects.toThrow("does not resolve");
  });

  it("asks for the grant only when the target is private", async () => {
    let asked = 0;
    await expect(assertTargetAllowed("https://8.8.8.8/hook", closed, async () => (asked++, false))).resolves.toBeUndefined();
    expect(asked).toBe(0);
  });

  it("does not tell the caller which private address a name resolves to", async () => {
    const error = await assertTargetAllowed("http://localhost:9000/hook", closed, async () => false).catch((caught: Error) => caught);
    expect((error as Error).message).not.toMatch(/127\.0\.0\.1|::1/);
  });
});

describe("webhook ports", () => {
  it("parses ports and ranges", () => {
    expect(parseAllowedPorts("80, 443,1024-65535")).toEqual([[80, 80], [443, 443], [1024, 65535]]);
    for (const bad of ["0", "65536", "10-5", "http", "80,,443", "1-2-3"]) expect(() => parseAllowedPorts(bad)).toThrow(/port/);
  });

  it.each([
    ["SSH", "http://8.8.8.8:22/hook"],
    ["SMTP", "http://8.8.8.8:25/hook"],
    ["a privileged port over https", "https://8.8.8.8:636/hook"],
  ])("refuses %s (%s) with the default WEBHOOK_ALLOWED_PORTS", async (_what, url) => {
    await expect(assertTargetAllowed(url, closed, async () => true)).rejects.toMatchObject({ param: "webhook.url", code: "webhook_target_refused", message: expect.stringContaining("WEBHOOK_ALLOWED_PORTS") });
  });

  it.each(["http://8.8.8.8/hook", "https://8.8.8.8/hook", "http://8.8.8.8:80/hook", "https://8.8.8.8:8443/hook", "http://8.8.8.8:65535/hook"])("allows %s", async (url) => {
    await expect(assertTargetAllowed(url, closed, async () => true)).resolves.toBeUndefined();
  });

  it("allows only the ports the operator lists", async () => {
    const policy = parseTargetPolicy("", "443,8000-8099");
    await expect(assertTargetAllowed("https://8.8.8.8/hook", policy, async () => true)).resolves.toBeUndefined();
    await expect(assertTargetAllowed("http://8.8.8.8:8080/hook", policy, async () => true)).resolves.toBeUndefined();
    await expect(assertTargetAllowed("http://8.8.8.8/hook", policy, async () => true)).rejects.toMatchObject({ code: "webhook_target_refused" });
    await expect(assertTargetAllowed("http://8.8.8.8:8100/hook", policy, async () => true)).rejects.toMatchObject({ code: "webhook_target_refused" });
  });
});

describe("responseExcerpt", () => {
  it("keeps at most 256 bytes of a failing answer, without control characters", () => {
    const excerpt = responseExcerpt(Buffer.from(`bad\r\nsignature\u0000\u001b[31m${"é".repeat(300)}`), 401);
    expect(excerpt).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    expect(excerpt!.startsWith("bad  signature  [31m")).toBe(true);
    expect(Buffer.byteLength(excerpt!)).toBeLessThanOrEqual(256);
    expect(excerpt).not.toContain("\ufffd"); // a character cut in half at the limit is dropped, not mangled
  });

  it("keeps nothing of a successful answer", () => {
    expect(responseExcerpt(Buffer.from("ok"), 200)).toBeNull();
    expect(responseExcerpt(Buffer.from(""), 500)).toBeNull();
  });
});


describe("postWebhook", () => {
  const loopback = parseTargetPolicy("127.0.0.1/32");

  it("connects only where the policy allows, at connection time too (a name that resolves inside is refused)", async () => {
    const receiver = await startWebhookReceiver();
    try {
      const port = new URL(receiver.url).port;
      const send = (url: string, cidrs: string, privateTargets = true) => postWebhook({ url, headers: {}, body: "{}", timeoutMs: 2_000, policy: parseTargetPolicy(cidrs), privateTargets });

      const literal = await send(`http://127.0.0.1:${port}/a`, "");
      expect(literal).toMatchObject({ statusCode: null, refused: true });
      const named = await send(`http://localhost:${port}/b`, "");
      expect(named).toMatchObject({ statusCode: null, refused: true });
      const compatible = await send(`http://[::7f00:1]:${port}/b`, "");
      expect(compatible).toMatchObject({ statusCode: null, refused: true });
      const ungranted = await send(`http://127.0.0.1:${port}/b`, "127.0.0.1/32", false);
      expect(ungranted).toMatchObject({ statusCode: null, refused: true });
      const ungrantedName = await send(`http://localhost:${port}/b`, "127.0.0.1/32,::1/128", false);
      expect(ungrantedName).toMatchObject({ statusCode: null, refused: true });
      expect(receiver.received).toHaveLength(0);

      const allowed = await send(`http://127.0.0.1:${port}/c`, "127.0.0.1/32");
      expect(allowed).toMatchObject({ statusCode: 200, refused: false, error: null, privateTarget: true });
      expect(receiver.at("/c")).toHaveLength(1);
    } finally {
      await receiver.close();
    }
  });

  it("refuses a port outside WEBHOOK_ALLOWED_PORTS at connection time", async () => {
    const receiver = await startWebhookReceiver();
    try {
      const port = Number(new URL(receiver.url).port);
      const policy = parseTargetPolicy("127.0.0.1/32", `80,443,${port + 1}-65535`);
      const result = await postWebhook({ url: `${receiver.url}/port`, headers: {}, body: "{}", timeoutMs: 2_000, policy, privateTargets: true });
      expect(result).toMatchObject({ statusCode: null, refused: true });
      expect(receiver.received).toHaveLength(0);
    } finally {
      await receiver.close();
    }
  });

  it("does not follow redirects, reads nothing of a private target's answer, and honours Retry-After", async () => {
    const receiver = await startWebhookReceiver();
    try {
      receiver.answer("/moved", [{ status: 302, headers: { location: "http://169.254.169.254/" } }]);
      receiver.answer("/busy", [{ status: 429, headers: { "retry-after": "7" }, body: "internal secret ".repeat(1_000) }]);
      const moved = await postWebhook({ url: `${receiver.url}/moved`, headers: {}, body: "{}", timeoutMs: 2_000, policy: loopback, privateTargets: true });
      expect(moved.statusCode).toBe(302);
      expect(receiver.received).toHaveLength(1);
      const busy = await postWebhook({ url: `${receiver.url}/busy`, headers: {}, body: "{}", timeoutMs: 2_000, policy: loopback, privateTargets: true });
      expect(busy).toMatchObject({ statusCode: 429, retryAfterMs: 7_000, responseBody: null });
    } finally {
      await receiver.close();
    }
  });

  it("a closed private port and an open one that does not speak HTTP give the same record: no way to map ports", async () => {
    const other = await startNotHttpServer();
    try {
      const send = (port: number) => postWebhook({ url: `http://127.0.0.1:${port}/x`, headers: {}, body: "{}", timeoutMs: 300, policy: loopback, privateTargets: true });
      const [refused, garbled] = await Promise.all([send(await freePort()), send(other.port)]);
      for (const result of [refused, garbled]) {
        expect(result).toMatchObject({ statusCode: null, refused: false, responseBody: null, privateTarget: true });
        expect(result.error).not.toMatch(/ECONN|EPIPE|HPE_|parse|refused|reset|hang up|127\.0\.0\.1|\d{4,5}/i);
        expect(result.durationMs).toBeGreaterThanOrEqual(300);
      }
      expect(garbled.error).toBe(refused.error);
      expect(garbled.durationMs).toBe(refused.durationMs);
      // The real causes stay in the worker's logs.
      expect(refused.detail).toMatch(/ECONNREFUSED/);
      expect(garbled.detail).not.toMatch(/ECONNREFUSED/);
    } finally {
      await other.close();
    }
  });
});
