import { startPrivateRedis } from "../src/private-servers";

// A suite's own Redis describes itself for a failure's message: which server, whether it still runs, and
// the end of its log (where Redis says why it stopped).
describe("startPrivateRedis", () => {
  it("says whether its server runs, how it exited, and what its log says", async () => {
    const redis = await startPrivateRedis();
    try {
      const port = new URL(redis.url).port;
      expect(redis.state()).toMatch(new RegExp(`^redis-server on port ${port}, pid \\d+, running; the end of its log:\\n`));
      expect(redis.state()).toContain("Ready to accept connections");
      await redis.kill("SIGKILL");
      expect(redis.state()).toMatch(/, exited \(SIGKILL\); /);
      await redis.start();
      expect(redis.state()).toMatch(/, running; /);
    } finally {
      await redis.destroy();
    }
  });
});
