import { randomUUID } from "node:crypto";
import { AuthenticationError, type Logger } from "@llmq/core";
import type { RefreshTokenRepository, UserRecord, UserRepository } from "@llmq/db";
import type { Principal } from "../http/principal";
import { type Limits, userLimits } from "../services/limits";
import type { AccessTokens } from "./access-tokens";
import { hashPassword, verifyPassword } from "./passwords";
import { hashRefreshToken, newRefreshToken } from "./refresh-secrets";

/** The public face of an account (never its password hash). */
function userView(user: UserRecord) {
  return { id: user.id, name: user.name, email: user.email, is_admin: user.isAdmin };
}

/** What login and refresh answer: OAuth 2's token response, plus who signed in. */
export interface TokenGrant {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  refresh_token: string;
  refresh_expires_in: number;
  user: ReturnType<typeof userView>;
}

export interface AuthServiceDeps {
  users: UserRepository;
  refreshTokens: RefreshTokenRepository;
  accessTokens: AccessTokens;
  refreshTtlSeconds: number;
  /** The deployment's default limits, for sessions' user limits. */
  limitDefaults: Limits;
  logger: Logger;
}

const BAD_CREDENTIALS = "Wrong email or password.";
const BAD_REFRESH = "Invalid refresh token: sign in again.";

/** Sign-in with email and password, rotating refresh tokens with reuse detection, and bearer access tokens. */
export class AuthService {
  constructor(private readonly deps: AuthServiceDeps) {}

  /** Same message, and about the same time (one argon2 run), whether the email or the password was wrong. */
  async login(email: string, password: string): Promise<TokenGrant> {
    const user = await this.deps.users.findByEmail(email);
    const ok = await verifyPassword(user?.passwordHash ?? null, password);
    if (!user || !ok) throw new AuthenticationError(BAD_CREDENTIALS, { code: "invalid_credentials" });
    const refreshToken = newRefreshToken();
    await this.deps.refreshTokens.issue({ userId: user.id, familyId: randomUUID(), tokenHash: hashRefreshToken(refreshToken), expiresAt: this.refreshExpiry() });
    return this.grant(user, refreshToken);
  }

  /** Trades a refresh token for a new pair; a token presented twice revokes its whole family. */
  async refresh(refreshToken: string): Promise<TokenGrant> {
    const next = newRefreshToken();
    const result = await this.deps.refreshTokens.rotate(hashRefreshToken(refreshToken), { tokenHash: hashRefreshToken(next), expiresAt: this.refreshExpiry() });
    if (result.outcome === "reused") {
      this.deps.logger.warn({ userId: result.userId, familyId: result.familyId }, "refresh token reused; its family is revoked");
      throw new AuthenticationError("This refresh token was already used: every session it belongs to is signed out. Sign in again.", { code: "refresh_token_reused" });
    }
    if (result.outcome === "invalid") throw new AuthenticationError(BAD_REFRESH, { code: "invalid_refresh_token" });
    const user = await this.deps.users.findById(result.userId);
    if (!user) throw new AuthenticationError(BAD_REFRESH, { code: "invalid_refresh_token" });
    return this.grant(user, next);
  }

  /** Revokes the family of `refreshToken`; an unknown or already revoked token is fine (idempotent). */
  async logout(refreshToken: string): Promise<void> {
    await this.deps.refreshTokens.revokeFamilyOf(hashRefreshToken(refreshToken));
  }

  /**
   * The caller behind an access token; the user is read again so a deleted account (or a lost admin role)
   * counts at once, with its live keys' limits in the same statement: a session is held to its user's limits.
   */
  async principalOf(accessToken: string): Promise<Principal> {
    const { userId, expiresAt } = await this.deps.accessTokens.verify(accessToken);
    const user = await this.deps.users.findWithKeyTotals(userId);
    if (!user) throw new AuthenticationError("Invalid access token.", { code: "invalid_access_token" });
    return {
      userId: user.id,
      isAdmin: user.isAdmin,
      keyId: null,
      accessTokenExpiresAt: expiresAt,
      quota: { key: null, user: userLimits(user, user.keyTotals, this.deps.limitDefaults) },
    };
  }

  /** Creates an account with a password; null when the email is taken. */
  async createAccount(input: { email: string; name: string; password: string; isAdmin: boolean }): Promise<UserRecord | null> {
    const { password, ...rest } = input;
    return this.deps.users.createAccount({ ...rest, passwordHash: await hashPassword(password) });
  }

  /** ADMIN_EMAIL/ADMIN_PASSWORD at start-up: an admin account, unless that email exists already. */
  async bootstrapAdmin(email: string, password: string): Promise<UserRecord | null> {
    if (await this.deps.users.findByEmail(email)) return null;
    const user = await this.createAccount({ email, name: "admin", password, isAdmin: true });
    if (user) this.deps.logger.info({ email: user.email, userId: user.id }, "admin account created from ADMIN_EMAIL");
    return user;
  }

  private refreshExpiry(): Date {
    return new Date(Date.now() + this.deps.refreshTtlSeconds * 1000);
  }

  private async grant(user: UserRecord, refreshToken: string): Promise<TokenGrant> {
    return {
      access_token: await this.deps.accessTokens.issue(user.id),
      token_type: "Bearer",
      expires_in: this.deps.accessTokens.ttlSeconds,
      refresh_token: refreshToken,
      refresh_expires_in: this.deps.refreshTtlSeconds,
      user: userView(user),
    };
  }
}
