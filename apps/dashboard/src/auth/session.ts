import type { TokenGrant as TokenResponse, SignedInUser as User } from "@llmq/contract";

/** How the viewer signed in: an API key used as is, or a password that gave access + refresh tokens. */
export type Session =
  | { kind: "key"; apiKey: string; user: User | null }
  | { kind: "password"; accessToken: string; refreshToken: string; issuedAt: number; expiresAt: number; user: User };

const STORAGE_KEY = "llmq.session";

/** A password session from a token response received at `now` (ms). */
export function sessionFromTokens(tokens: TokenResponse, now: number): Session {
  return {
    kind: "password",
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token,
    issuedAt: now,
    expiresAt: now + tokens.expires_in * 1000,
    user: tokens.user,
  };
}

/** The session kept in this tab (sessionStorage: gone when the tab closes), or null. */
export function loadSession(storage: Pick<Storage, "getItem">): Session | null {
  const raw = storage.getItem(STORAGE_KEY);
  if (!raw) return null;
  try {
    const value = JSON.parse(raw) as Partial<Session>;
    if (value.kind === "key" && typeof value.apiKey === "string") return value as Session;
    if (value.kind === "password" && typeof value.accessToken === "string" && typeof value.refreshToken === "string" && typeof value.expiresAt === "number") {
      return value as Session;
    }
  } catch {
    // A damaged entry is the same as none.
  }
  return null;
}

export function saveSession(storage: Pick<Storage, "setItem" | "removeItem">, session: Session | null): void {
  if (session) storage.setItem(STORAGE_KEY, JSON.stringify(session));
  else storage.removeItem(STORAGE_KEY);
}

/**
 * When to refresh an access token: a minute before it expires, or after 80 % of its life for short-lived
 * tokens, so a slow refresh still lands before expiry. Returns the delay from `now` in ms (never negative).
 */
export function refreshDelayMs(issuedAt: number, expiresAt: number, now: number): number {
  const lifetime = Math.max(0, expiresAt - issuedAt);
  const margin = Math.min(60_000, lifetime * 0.2);
  return Math.max(0, expiresAt - margin - now);
}
