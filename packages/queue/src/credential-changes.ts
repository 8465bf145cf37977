import type { RedisConnection } from "./connection";
import type { KeySpace } from "./keys";

/**
 * A credential that changed what it grants. The first three take something away (open streams
 * authenticated by it end); `key_changed` and `user_changed` (limits, a promotion, a new key changing
 * the user's key totals) only make resolved keys cached by API processes stale.
 */
export type CredentialChange =
  | { type: "key_revoked"; keyId: string }
  | { type: "user_deleted"; userId: string }
  | { type: "user_demoted"; userId: string }
  | { type: "key_changed"; keyId: string }
  | { type: "user_changed"; userId: string };

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

  /**
   * Raises the credentials epoch and publishes `change`, together (one MULTI); resolves when sent or
   * failed, never rejects. The epoch lets a reader that has not yet heard the message know it is behind.
   */
  async publish(change: CredentialChange): Promise<void> {
    try {
      await this.redis.multi().incr(this.keys.credentialsEpoch).publish(this.keys.credentialsChannel, JSON.stringify(change)).exec();
    } catch (error) {
      this.onError(error);
    }
  }

  /** The current credentials epoch (null before the first change); rejects when Redis cannot be read. */
  async epoch(): Promise<string | null> {
    return this.redis.get(this.keys.credentialsEpoch);
  }
}

/** The subscription's state, for those who may trust what it did not say (a cache) only while it listens. */
export interface CredentialSubscription {
  /** True while the channel is subscribed on a connected socket: no message can have been missed since `onGap`. */
  listening(): boolean;
}

/**
 * Calls `onChange` with every announced change, over an existing subscriber connection. Pub/sub drops
 * what is published while the connection is down, so `onGap` is called when the connection goes down
 * and again once it is back and the channel subscribed anew (a SUBSCRIBE of our own whose answer
 * comes after the resubscription ioredis sends on reconnect): whatever was concluded from the silence
 * in between must be dropped.
 */
export async function subscribeCredentialChanges(
  subscriber: RedisConnection,
  keys: KeySpace,
  onChange: (change: CredentialChange) => void,
  onGap: () => void = () => undefined,
): Promise<CredentialSubscription> {
  let listening = false;
  subscriber.on("message", (channel: string, message: string) => {
    if (channel !== keys.credentialsChannel) return;
    const change = parseChange(message);
    if (change) onChange(change);
  });
  const lost = () => {
    if (!listening) return;
    listening = false;
    onGap();
  };
  subscriber.on("close", lost);
  subscriber.on("reconnecting", lost);
  subscriber.on("end", lost);
  subscriber.on("ready", () => {
    if (listening) return;
    subscriber.subscribe(keys.credentialsChannel).then(
      () => {
        if (subscriber.status !== "ready" || listening) return;
        listening = true;
        onGap();
      },
      () => undefined,
    );
  });
  await subscriber.subscribe(keys.credentialsChannel);
  listening = subscriber.status === "ready";
  return { listening: () => listening };
}

function parseChange(message: string): CredentialChange | null {
  try {
    const value = JSON.parse(message) as Record<string, unknown>;
    if (value.type === "key_revoked" && typeof value.keyId === "string") return { type: value.type, keyId: value.keyId };
    if (value.type === "key_changed" && typeof value.keyId === "string") return { type: value.type, keyId: value.keyId };
    if ((value.type === "user_deleted" || value.type === "user_demoted" || value.type === "user_changed") && typeof value.userId === "string") return { type: value.type, userId: value.userId };
    return null;
  } catch {
    return null;
  }
}
