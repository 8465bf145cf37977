import type { RedisConnection } from "./connection";
import type { KeySpace } from "./keys";

/** A credential that stopped granting what it granted: open streams authenticated by it must end. */
export type CredentialChange = { type: "key_revoked"; keyId: string } | { type: "user_deleted"; userId: string } | { type: "user_demoted"; userId: string };

/**
 * Announces credential changes to every API process on one Redis pub/sub channel. Pub/sub is at most
 * once (a subscriber reconnecting misses messages), so receivers also re-check their streams'
 * credentials in the database now and then; a failed publish is reported, never thrown.
 */
export class CredentialChanges {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: KeySpace,
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {}

  /** Publishes `change`; resolves when sent or failed, never rejects. */
  async publish(change: CredentialChange): Promise<void> {
    try {
      await this.redis.publish(this.keys.credentialsChannel, JSON.stringify(change));
    } catch (error) {
      this.onError(error);
    }
  }
}

/** Calls `onChange` with every announced change, over an existing subscriber connection. */
export async function subscribeCredentialChanges(subscriber: RedisConnection, keys: KeySpace, onChange: (change: CredentialChange) => void): Promise<void> {
  subscriber.on("message", (channel: string, message: string) => {
    if (channel !== keys.credentialsChannel) return;
    const change = parseChange(message);
    if (change) onChange(change);
  });
  await subscriber.subscribe(keys.credentialsChannel);
}

function parseChange(message: string): CredentialChange | null {
  try {
    const value = JSON.parse(message) as Record<string, unknown>;
    if (value.type === "key_revoked" && typeof value.keyId === "string") return { type: value.type, keyId: value.keyId };
    if ((value.type === "user_deleted" || value.type === "user_demoted") && typeof value.userId === "string") return { type: value.type, userId: value.userId };
    return null;
  } catch {
    return null;
  }
}
