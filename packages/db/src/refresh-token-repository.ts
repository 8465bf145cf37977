import type { Database } from "./client";

/** What presenting a refresh token led to. */
export type RotationResult =
  | { outcome: "rotated"; userId: string; familyId: string }
  /** Already used once: it leaked or was replayed; its whole family is now revoked. */
  | { outcome: "reused"; userId: string; familyId: string }
  /** Unknown, expired, or revoked (logout, or an earlier reuse). */
  | { outcome: "invalid" };

/**
 * Refresh tokens, stored as SHA-256 hashes only. A token is good for one refresh: rotating marks it used
 * and inserts its successor in the same family, in one transaction. The callers hash; this class never
 * sees a token.
 */
export class RefreshTokenRepository {
  constructor(private readonly db: Database) {}

  /** Stores the first token of a new family (a login). */
  async issue(token: { userId: string; familyId: string; tokenHash: string; expiresAt: Date }): Promise<void> {
    await this.db.refreshToken.create({ data: token });
  }

  /**
   * Uses up the token with `tokenHash` and stores `next` as its successor. The use is a conditional
   * update, so of two concurrent refreshes with one token exactly one rotates; the other is a reuse.
   */
  async rotate(tokenHash: string, next: { tokenHash: string; expiresAt: Date }, now = new Date()): Promise<RotationResult> {
    const rotated = await this.db.$transaction(async (tx) => {
      const used = await tx.refreshToken.updateManyAndReturn({
        where: { tokenHash, usedAt: null, revokedAt: null, expiresAt: { gt: now } },
        data: { usedAt: now },
        select: { userId: true, familyId: true },
      });
      const current = used[0];
      if (!current) return null;
      await tx.refreshToken.create({ data: { ...current, ...next } });
      return current;
    });
    if (rotated) return { outcome: "rotated", ...rotated };
    const known = await this.db.refreshToken.findUnique({ where: { tokenHash }, select: { userId: true, familyId: true, usedAt: true } });
    if (!known?.usedAt) return { outcome: "invalid" };
    await this.revokeFamily(known.familyId, now);
    return { outcome: "reused", userId: known.userId, familyId: known.familyId };
  }

  /** Revokes the family of the token with `tokenHash` (logout). False when no such token exists. */
  async revokeFamilyOf(tokenHash: string, now = new Date()): Promise<boolean> {
    const known = await this.db.refreshToken.findUnique({ where: { tokenHash }, select: { familyId: true } });
    if (!known) return false;
    await this.revokeFamily(known.familyId, now);
    return true;
  }

  private async revokeFamily(familyId: string, now: Date): Promise<void> {
    await this.db.refreshToken.updateMany({ where: { familyId, revokedAt: null }, data: { revokedAt: now } });
  }
}
