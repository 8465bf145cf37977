// The upstream LLM of the streaming figure, in a process of its own so its CPU is not the bench's or the service's.
import { startOpenAIFixture } from "@llmq/testkit";

const tokens = Number(process.env.FIXTURE_TOKENS ?? 40);
const tokenDelayMs = Number(process.env.FIXTURE_TOKEN_DELAY_MS ?? 10);

startOpenAIFixture({
  models: ["bench-upstream"],
  behaviour: { reply: Array.from({ length: tokens }, (_, i) => `word${i}`).join(" "), tokenDelayMs },
}).then(
  (fixture) => {
    console.log(`FIXTURE ${fixture.url}`);
    process.on("SIGTERM", () => void fixture.close().then(() => process.exit(0)));
  },
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
