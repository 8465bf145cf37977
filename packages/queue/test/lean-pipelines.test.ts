import v8 from "node:v8";
import vm from "node:vm";
import { redisReady, testRedisUrl, uniquePrefix } from "@llmq/testkit";
import { Pipeline, type Redis } from "ioredis";
import { closeRedis, createRedis } from "../src";
import { installLeanPipelines, originalPipeline, pipelineShape } from "../src/lean-pipelines";

// ioredis's own constructor gave each pipeline an own `length` accessor, whose pair V8 keeps in the old
// generation: young collections then kept every finished pipeline alive and promoted it (lean-pipelines.ts).
// Real Redis; the collections are V8's own, asked for explicitly.

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as (options?: { type: "minor" | "major"; execution?: "sync" }) => void;
v8.setFlagsFromString("--no-expose-gc");

describe("lean ioredis pipelines", () => {
  let redis: Redis;
  const prefix = uniquePrefix();
  beforeAll(async () => {
    redis = await redisReady(createRedis(testRedisUrl(), { name: "lean-pipelines-test" }));
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await closeRedis(redis);
  });

  it("are installed by createRedis and build the same own properties as ioredis's, with length on the prototype", () => {
    expect(installLeanPipelines()).toBe(true);
    const ours = redis.pipeline();
    const theirs = new originalPipeline(redis as never);
    expect(pipelineShape(theirs)).toEqual({ keys: pipelineShape(ours).keys, ownLength: true });
    expect(pipelineShape(ours).ownLength).toBe(false);
    expect(ours).toBeInstanceOf(Pipeline);
    expect(ours.length).toBe(0);
    ours.set(`${prefix}:a`, "1").get(`${prefix}:a`);
    expect(ours.length).toBe(2);
  });

  it("pipelines, MULTI blocks, defined scripts and auto-pipelined commands answer as before", async () => {
    expect(await redis.pipeline().set(`${prefix}:p`, "x").incr(`${prefix}:n`).get(`${prefix}:p`).exec()).toEqual([
      [null, "OK"],
      [null, 1],
      [null, "x"],
    ]);
    expect(await redis.multi().incr(`${prefix}:n`).incrby(`${prefix}:n`, 5).exec()).toEqual([
      [null, 2],
      [null, 7],
    ]);
    // BullMQ defines its scripts this way: a pipeline carries them (and their Buffer twins).
    redis.defineCommand("leanEcho", { numberOfKeys: 1, lua: "return {KEYS[1], ARGV[1]}" });
    const withScript = redis.pipeline() as unknown as { leanEcho(key: string, arg: string): unknown; exec(): Promise<unknown> };
    withScript.leanEcho(`${prefix}:k`, "v");
    expect(await withScript.exec()).toEqual([[null, [`${prefix}:k`, "v"]]]);
    const auto = await Promise.all([redis.get(`${prefix}:p`), redis.incr(`${prefix}:n`), redis.exists(`${prefix}:p`)]);
    expect(auto).toEqual(["x", 8, 1]);
    // An error in one command reaches its own slot, as before.
    expect(await redis.pipeline().set(`${prefix}:s`, "1").hget(`${prefix}:s`, "f").get(`${prefix}:s`).exec()).toEqual([
      [null, "OK"],
      [expect.objectContaining({ message: expect.stringContaining("WRONGTYPE") })],
      [null, "1"],
    ]);
  });

  /** Old-generation bytes left by `count` pipelines executed one after another, after two young collections. */
  async function promotedBy(build: () => { get(key: string): unknown; exec(): Promise<unknown> }, count: number): Promise<number> {
    gc({ type: "major", execution: "sync" });
    gc({ type: "minor" });
    const oldBytes = () => v8.getHeapSpaceStatistics().find((space) => space.space_name === "old_space")!.space_used_size;
    const before = oldBytes();
    for (let i = 0; i < count; i++) {
      const pipeline = build();
      pipeline.get(`${prefix}:p`);
      await pipeline.exec();
    }
    gc({ type: "minor" });
    gc({ type: "minor" });
    return oldBytes() - before;
  }

  it("a finished pipeline is collected young: 2,000 of them no longer fill the old generation", async () => {
    const count = 2_000;
    const theirsBuild = () => new originalPipeline(redis as never) as never;
    const oursBuild = () => redis.pipeline();
    // Rounds alternate; the first ones also fill the old generation with the path's compiled code and
    // feedback (it takes a few rounds under Jest's transform), so each side is read at its lowest round.
    const theirs: number[] = [];
    const ours: number[] = [];
    for (let round = 0; round < 5; round++) {
      theirs.push(await promotedBy(theirsBuild, count));
      ours.push(await promotedBy(oursBuild, count));
    }
    // ioredis's own: every pipeline and what it held survived into the old generation (about 2.8 KB each,
    // every round); the lean one leaves only what any 2,000 awaited round trips leave.
    expect(Math.min(...theirs)).toBeGreaterThan(count * 1_000);
    expect(Math.min(...ours)).toBeLessThan(Math.min(...theirs) / 4);
  });
});
