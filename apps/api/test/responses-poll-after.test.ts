// openai-poll-after-ms from a response's status and ETA (apps/api/src/responses/poll-after.ts).
import { pollAfterMs } from "../src/responses/poll-after";

describe("openai-poll-after-ms", () => {
  it("follows a queued response's ETA within 100 ms .. 5 s", () => {
    expect(pollAfterMs("queued", 0.01)).toBe(100);
    expect(pollAfterMs("queued", 2.5)).toBe(2_500);
    expect(pollAfterMs("queued", 600)).toBe(5_000);
  });

  it("suggests 1 s when no ETA is known or the response runs, and nothing once it is final", () => {
    expect(pollAfterMs("queued", null)).toBe(1_000);
    expect(pollAfterMs("in_progress", null)).toBe(1_000);
    for (const status of ["completed", "failed", "cancelled", "incomplete"] as const) expect(pollAfterMs(status, 3)).toBeNull();
  });
});
