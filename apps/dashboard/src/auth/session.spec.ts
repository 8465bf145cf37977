import { describe, expect, it } from "vitest";
import type { TokenGrant as TokenResponse } from "@llmq/contract";
import { loadSession, refreshDelayMs, saveSession, sessionFromTokens } from "./session";
import { TokenKeeper } from "./token-keeper";

/** sessionStorage's contract over a Map. */
function memoryStorage() {
  const map = new Map<string, string>();
  return {
    getItem: (key: string) => map.get(key) ?? null,
    setItem: (key: string, value: string) => void map.set(key, value),
    removeItem: (key: string) => void map.delete(key),
  };
}

const tokens = (n: number): TokenResponse => ({
  access_token: `access-${n}`,
  token_type: "Bearer",
  expires_in: 900,
  refresh_token: `refresh-${n}`,
  refresh_expires_in: 2_592_000,
  user: { id: "u1", name: "Ada", email: "ada@example.com", is_admin: false },
});

describe("refreshDelayMs", () => {
  it("refreshes a minute before expiry for long-lived tokens", () => {
    expect(refreshDelayMs(0, 900_000, 0)).toBe(840_000);
    expect(refreshDelayMs(0, 900_000, 100_000)).toBe(740_000);
  });
  it("refreshes after 80% of the life of short-lived tokens", () => {
    expect(refreshDelayMs(0, 10_000, 0)).toBe(8_000);
  });
  it("refreshes at once when that moment has passed", () => {
    expect(refreshDelayMs(0, 900_000, 899_000)).toBe(0);
    expect(refreshDelayMs(0, 900_000, 2_000_000)).toBe(0);
  });
});

describe("session storage", () => {
  it("keeps and restores both kinds of session", () => {
    const storage = memoryStorage();
    const password = sessionFromTokens(tokens(1), 1000);
    expect(password).toMatchObject({ kind: "password", accessToken: "access-1", issuedAt: 1000, expiresAt: 901_000 });
    saveSession(storage, password);
    expect(loadSession(storage)).toEqual(password);
    saveSession(storage, { kind: "key", apiKey: "k", user: null });
    expect(loadSession(storage)).toEqual({ kind: "key", apiKey: "k", user: null });
    saveSession(storage, null);
    expect(loadSession(storage)).toBeNull();
  });
  it("treats a damaged entry as no session", () => {
    const storage = memoryStorage();
    storage.setItem("llmq.session", "{not json");
    expect(loadSession(storage)).toBeNull();
    storage.setItem("llmq.session", JSON.stringify({ kind: "password" }));
    expect(loadSession(storage)).toBeNull();
  });
});

describe("TokenKeeper", () => {
  it("refreshes an expired access token once, however many requests wait for it", async () => {
    let now = 0;
    const presented: string[] = [];
    const keeper = new TokenKeeper({
      storage: memoryStorage(),
      now: () => now,
      refresh: async (refreshToken) => {
        presented.push(refreshToken);
        return tokens(presented.length + 1);
      },
    });
    keeper.set(sessionFromTokens(tokens(1), 0));
    expect(await keeper.token()).toBe("access-1");
    now = 899_000; // within 5 s of expiry
    const all = await Promise.all([keeper.token(), keeper.token(), keeper.token()]);
    keeper.stop();
    expect(all).toEqual(["access-2", "access-2", "access-2"]);
    expect(presented).toEqual(["refresh-1"]);
  });
  it("uses a short-lived token as it is until close to its expiry", async () => {
    let now = 0;
    let refreshes = 0;
    const keeper = new TokenKeeper({ storage: memoryStorage(), now: () => now, refresh: async () => tokens(++refreshes + 1) });
    keeper.set(sessionFromTokens({ ...tokens(1), expires_in: 5 }, 0));
    now = 4_000;
    expect(await keeper.token()).toBe("access-1");
    now = 4_600;
    expect(await keeper.token()).toBe("access-2");
    keeper.stop();
    expect(refreshes).toBe(1);
  });
  it("ends the session when the refresh is refused", async () => {
    const storage = memoryStorage();
    const keeper = new TokenKeeper({ storage, now: () => 1_000_000, refresh: () => Promise.reject(new Error("refresh_token_reused")) });
    const seen: unknown[] = [];
    keeper.subscribe((session) => seen.push(session));
    keeper.set(sessionFromTokens(tokens(1), 0));
    await expect(keeper.token()).rejects.toThrow("the session has ended");
    keeper.stop();
    expect(keeper.current()).toBeNull();
    expect(loadSession(storage)).toBeNull();
    expect(seen.at(-1)).toBeNull();
  });
  it("hands out an API key as it is", async () => {
    const keeper = new TokenKeeper({ storage: memoryStorage(), refresh: () => Promise.reject(new Error("unused")) });
    keeper.set({ kind: "key", apiKey: "llmq_abc", user: null });
    expect(await keeper.token()).toBe("llmq_abc");
  });
});
