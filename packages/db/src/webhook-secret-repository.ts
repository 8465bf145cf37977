import { randomBytes } from "node:crypto";
import type { Database } from "./client";

/** Whose secret signs a webhook: the API key that asked for it, or (no key: admin key, sessions) its user. */
export interface SecretOwner {
  keyId: string | null;
  userId: string;
}

/** A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

/**
 * Webhook signing secrets, one per API key (or per user for callers without a key). Stored as they are:
 * unlike API keys they must be read back to sign. Made on first use, so older keys get one too.
 */
export class WebhookSecretRepository {
  constructor(private readonly db: Database) {}

  /** The owner's secret, created if it has none; null if the key or user no longer exists. */
  async secretOf(owner: SecretOwner): Promise<string | null> {
    const current = await this.read(owner);
    if (current === undefined) return null;
    if (current !== null) return current;
    // Two callers may race to create it: the conditional write lets one win, and both read the winner's.
    await this.write(owner, generateWebhookSecret(), true);
    return (await this.read(owner)) ?? null;
  }

  /** Replaces the owner's secret; webhooks signed from now on use the new one. */
  async rotate(owner: SecretOwner): Promise<string | null> {
    const secret = generateWebhookSecret();
    return (await this.write(owner, secret, false)) ? secret : null;
  }

  /** undefined: no such owner; null: no secret yet. */
  private async read(owner: SecretOwner): Promise<string | null | undefined> {
    if (owner.keyId) {
      const key = await this.db.apiKey.findUnique({ where: { id: owner.keyId }, select: { webhookSecret: true } });
      return key === null ? undefined : key.webhookSecret;
    }
    const user = await this.db.user.findUnique({ where: { id: owner.userId }, select: { webhookSecret: true } });
    return user === null ? undefined : user.webhookSecret;
  }

  private async write(owner: SecretOwner, secret: string, onlyIfUnset: boolean): Promise<boolean> {
    const unset = onlyIfUnset ? { webhookSecret: null } : {};
    const { count } = owner.keyId
      ? await this.db.apiKey.updateMany({ where: { id: owner.keyId, ...unset }, data: { webhookSecret: secret } })
      : await this.db.user.updateMany({ where: { id: owner.userId, ...unset }, data: { webhookSecret: secret } });
    return count === 1;
  }
}
