import { eventually, testRedisUrl, uniquePrefix } from "@llmq/testkit";
import { type KeySpace, type RedisConnection, type TaskUpdate, TaskUpdates, closeRedis, createRedis, keySpace, subscribeTaskUpdates } from "../src";

let redis: RedisConnection;
let subscriber: RedisConnection;
let keys: KeySpace;
const received: TaskUpdate[][] = [];

beforeAll(async () => {
  redis = createRedis(testRedisUrl(), { blocking: true });
  subscriber = createRedis(testRedisUrl(), { blocking: true });
  keys = keySpace(uniquePrefix());
  await subscribeTaskUpdates(subscriber, keys, (updates) => received.push(updates));
});
afterAll(async () => {
  await Promise.all([closeRedis(redis), closeRedis(subscriber)]);
});

describe("TaskUpdates", () => {
  it("announces changed tasks to live lists, a thousand per message", async () => {
    received.length = 0;
    const updates = Array.from({ length: 2_500 }, (_, i) => ({ taskId: `task${i}`, ownerId: `owner${i % 7}` }));
    await new TaskUpdates(redis, keys).publish(updates);
    await eventually(async () => (received.length === 3 ? true : undefined), { what: "three messages" });
    expect(received.map((batch) => batch.length)).toEqual([1_000, 1_000, 500]);
    expect(received.flat()).toEqual(updates);
  });

  it("ignores messages that are not updates, and never throws when publishing fails", async () => {
    received.length = 0;
    await redis.publish(keys.taskUpdatesChannel, "not json");
    await redis.publish(keys.taskUpdatesChannel, JSON.stringify({ taskId: "x" }));
    await redis.publish(keys.taskUpdatesChannel, JSON.stringify([["only-a-task-id"], [1, 2]]));
    await new TaskUpdates(redis, keys).publish([{ taskId: "after", ownerId: "o" }]);
    await eventually(async () => (received.length > 0 ? true : undefined), { what: "the valid message" });
    expect(received).toEqual([[{ taskId: "after", ownerId: "o" }]]);

    const closed = createRedis(testRedisUrl());
    await closeRedis(closed);
    const errors: unknown[] = [];
    await expect(new TaskUpdates(closed, keys, (error) => errors.push(error)).publish([{ taskId: "t", ownerId: "o" }])).resolves.toBeUndefined();
    expect(errors).toHaveLength(1);
  });
});
