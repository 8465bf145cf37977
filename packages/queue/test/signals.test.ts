import { eventually, testRedisUrl, uniquePrefix } from "@llmq/testkit";
import {
  type CredentialChange,
  CredentialChanges,
  type KeySpace,
  type RedisConnection,
  closeRedis,
  createRedis,
  keySpace,
  publishCancel,
  subscribeCancels,
  subscribeCredentialChanges,
} from "../src";

let redis: RedisConnection;
let subscriber: RedisConnection;
let keys: KeySpace;
const cancelled: string[] = [];
const changes: CredentialChange[] = [];

beforeAll(async () => {
  redis = createRedis(testRedisUrl(), { blocking: true });
  subscriber = createRedis(testRedisUrl(), { blocking: true });
  keys = keySpace(uniquePrefix());
  // One subscriber connection carries both, as in the API and the worker.
  await subscribeCancels(subscriber, keys, (taskId) => cancelled.push(taskId));
  await subscribeCredentialChanges(subscriber, keys, (change) => changes.push(change));
});
afterAll(async () => {
  await Promise.all([closeRedis(redis), closeRedis(subscriber)]);
});

describe("cancel signals", () => {
  it("tell every subscriber which task was cancelled, in order", async () => {
    for (const taskId of ["a", "b", "c"]) await publishCancel(redis, keys, taskId);
    await eventually(async () => (cancelled.length === 3 ? true : undefined), { what: "three cancels" });
    expect(cancelled).toEqual(["a", "b", "c"]);
    // Another deployment's prefix is another channel.
    await publishCancel(redis, keySpace(uniquePrefix()), "elsewhere");
    await publishCancel(redis, keys, "d");
    await eventually(async () => (cancelled.length === 4 ? true : undefined), { what: "the fourth cancel" });
    expect(cancelled).toEqual(["a", "b", "c", "d"]);
  });
});

describe("CredentialChanges", () => {
  it("announces revoked keys, deleted and demoted users, and drops anything else", async () => {
    const sent: CredentialChange[] = [
      { type: "key_revoked", keyId: "k1" },
      { type: "user_deleted", userId: "u1" },
      { type: "user_demoted", userId: "u2" },
    ];
    const publisher = new CredentialChanges(redis, keys);
    await publisher.publish(sent[0]!);
    await redis.publish(keys.credentialsChannel, JSON.stringify({ type: "key_revoked" }));
    await redis.publish(keys.credentialsChannel, "{broken");
    await redis.publish(keys.credentialsChannel, JSON.stringify({ type: "user_promoted", userId: "u3" }));
    await publisher.publish(sent[1]!);
    await publisher.publish(sent[2]!);
    await eventually(async () => (changes.length === 3 ? true : undefined), { what: "three changes" });
    expect(changes).toEqual(sent);
  });
});
