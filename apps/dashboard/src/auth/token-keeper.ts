import type { TokenGrant as TokenResponse } from "@llmq/contract";
import { type Session, refreshDelayMs, saveSession, sessionFromTokens } from "./session";

export interface TokenKeeperOptions {
  storage: Pick<Storage, "setItem" | "removeItem">;
  /** Exchanges a refresh token for new tokens (`POST /v1/auth/refresh`). */
  refresh: (refreshToken: string) => Promise<TokenResponse>;
  now?: () => number;
}

/**
 * Holds the session and keeps its access token fresh. Refreshes run one at a time: two at once would
 * present the same refresh token twice, which the API treats as theft and answers by revoking the family.
 */
export class TokenKeeper {
  private session: Session | null = null;
  private inFlight: Promise<Session | null> | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly listeners = new Set<(session: Session | null) => void>();
  private readonly now: () => number;

  constructor(private readonly options: TokenKeeperOptions) {
    this.now = options.now ?? Date.now;
  }

  current(): Session | null {
    return this.session;
  }

  subscribe(listener: (session: Session | null) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  set(session: Session | null): void {
    this.session = session;
    saveSession(this.options.storage, session);
    this.schedule();
    for (const listener of this.listeners) listener(session);
  }

  /** The bearer token to send now; refreshes first when the access token has (nearly) expired. */
  async token(): Promise<string> {
    const session = this.session;
    if (!session) throw new Error("not signed in");
    if (session.kind === "key") return session.apiKey;
    // Early enough that the request arrives before expiry, but not so early that short-lived tokens are
    // refreshed on every request: each refresh is a rotation, and one lost in a page unload ends the session.
    const margin = Math.min(5_000, (session.expiresAt - session.issuedAt) / 10);
    if (this.now() < session.expiresAt - margin) return session.accessToken;
    const fresh = await this.refreshNow();
    if (!fresh || fresh.kind !== "password") throw new Error("the session has ended");
    return fresh.accessToken;
  }

  /** Refreshes (single flight); a refused refresh ends the session. */
  refreshNow(): Promise<Session | null> {
    const session = this.session;
    if (!session || session.kind !== "password") return Promise.resolve(session);
    this.inFlight ??= this.options
      .refresh(session.refreshToken)
      .then((tokens) => {
        const next = sessionFromTokens(tokens, this.now());
        this.set(next);
        return next;
      })
      .catch(() => {
        this.set(null);
        return null;
      })
      .finally(() => {
        this.inFlight = null;
      });
    return this.inFlight;
  }

  /** Stops the refresh timer (the app unmounting). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    this.stop();
    const session = this.session;
    if (!session || session.kind !== "password") return;
    this.timer = setTimeout(() => void this.refreshNow(), refreshDelayMs(session.issuedAt, session.expiresAt, this.now()));
  }
}
