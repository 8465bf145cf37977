import { createHash } from "node:crypto";
import { json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";

// Complements auth-and-isolation.test.ts (secret shown once, hash stored, revocation on the next request).
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ worker: false });
});
afterAll(async () => {
  await stack.close();
});

async function createKey(name: string) {
  const res = await stack.request("/v1/admin/keys", { method: "POST", json: { name } });
  expect(res.status).toBe(201);
  return (await json(res)).data.data as { id: string; key: string; prefix: string };
}

describe("API key secrets", () => {
  it("are the prefix and 32 random bytes in base64url, all different, stored only as their SHA-256", async () => {
    const created = await Promise.all(Array.from({ length: 12 }, (_, i) => createKey(`random ${i}`)));
    for (const { key, prefix } of created) {
      const match = /^llmq_([A-Za-z0-9_-]+)$/.exec(key);
      expect(match).not.toBeNull();
      const bytes = Buffer.from(match![1]!, "base64url");
      expect(bytes).toHaveLength(32);
      expect(bytes.toString("base64url")).toBe(match![1]); // canonical: nothing but the 32 bytes
      expect(key.startsWith(prefix)).toBe(true);
      expect(prefix.length).toBeGreaterThan("llmq_".length); // the prefix identifies the key in listings...
      expect(prefix.length).toBeLessThanOrEqual("llmq_".length + 8); // ...but gives away at most 6 bytes
    }
    expect(new Set(created.map((c) => c.key)).size).toBe(created.length);
    // Random bytes, not a counter or a timestamp: across 12 keys every byte position varies.
    const decoded = created.map((c) => Buffer.from(c.key.slice("llmq_".length), "base64url"));
    const varyingPositions = Array.from({ length: 32 }, (_, i) => new Set(decoded.map((d) => d[i])).size > 1).filter(Boolean).length;
    expect(varyingPositions).toBeGreaterThanOrEqual(30);

    // The table holds hashes only: no column of any row contains any secret, in any form.
    const rows = await stack.api.deps.db.$queryRaw<Record<string, unknown>[]>`SELECT * FROM api_keys`;
    const table = JSON.stringify(rows);
    for (const { key } of created) {
      const secretPart = key.slice("llmq_".length);
      expect(table).not.toContain(secretPart);
      expect(table).not.toContain(Buffer.from(secretPart, "base64url").toString("hex"));
      expect(table).toContain(createHash("sha256").update(key).digest("hex"));
    }
  });

  it("are checked by hash: the stored hash is not a credential, and any length gets the same 401", async () => {
    const created = await createKey("hash is not a key");
    const storedHash = createHash("sha256").update(created.key).digest("hex");
    const admin = stack.adminKey;
    // A comparison of raw strings would throw on unequal lengths (timingSafeEqual) or accept prefixes;
    // hashing first makes every candidate the same 32 bytes.
    const candidates = [
      storedHash,
      "x",
      admin.slice(0, -1),
      `${admin}x`,
      admin.replace(/.$/, (c) => (c === "a" ? "b" : "a")),
      created.key.slice(0, -1),
      `${created.key}A`,
      "k".repeat(8 * 1024),
    ];
    const bodies = new Set<string>();
    for (const candidate of candidates) {
      const res = await stack.request("/v1/ai/tasks", { key: candidate });
      expect([candidate.slice(0, 20), res.status]).toEqual([candidate.slice(0, 20), 401]);
      const body = await json(res);
      expect(body.errors[0].code).toBe("invalid_api_key");
      bodies.add(JSON.stringify({ status: body.status, errors: body.errors }));
    }
    expect(bodies.size).toBe(1);
    expect((await stack.request("/v1/ai/tasks", { key: created.key })).status).toBe(200);
    expect((await stack.request("/v1/ai/tasks", { key: admin })).status).toBe(200);
  });

  it("stops working on the very request after revocation, while in use", async () => {
    const created = await createKey("revoked mid-use");
    expect((await stack.request("/v1/chat/completions", { method: "POST", key: created.key, json: {} })).status).toBe(400);
    expect((await stack.request(`/v1/admin/keys/${created.id}`, { method: "DELETE" })).status).toBe(200);
    for (const [path, init] of [["/v1/ai/tasks", {}], ["/v1/models", {}], ["/v1/chat/completions", { method: "POST", json: {} }]] as const) {
      const res = await stack.request(path, { ...init, key: created.key });
      expect(res.status).toBe(401);
    }
  });
});
