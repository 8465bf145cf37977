import { describe, expect, it } from "vitest";
import { waterfall } from "./waterfall";

const t0 = Date.parse("2026-01-01T00:00:00.000Z");
const at = (ms: number) => new Date(t0 + ms).toISOString();

describe("waterfall", () => {
  it("splits a completed task into queued, starting and generating", () => {
    const { segments, totalSeconds } = waterfall({ created_at: at(0), started_at: at(1000), first_token_at: at(1500), completed_at: at(4000) }, true, t0 + 99_999);
    expect(totalSeconds).toBe(4);
    expect(segments.map((s) => [s.label, s.offset, s.width, s.seconds, s.open])).toEqual([
      ["queued", 0, 25, 1, false],
      ["starting", 25, 12.5, 0.5, false],
      ["generating", 37.5, 62.5, 2.5, false],
    ]);
  });
  it("runs the current step up to now while the task is live", () => {
    const { segments } = waterfall({ created_at: at(0), started_at: at(1000), first_token_at: null, completed_at: null }, false, t0 + 2000);
    expect(segments.map((s) => [s.label, s.seconds, s.open])).toEqual([
      ["queued", 1, false],
      ["starting", 1, true],
    ]);
  });
  it("stops at the last step a final task reached", () => {
    const { segments, totalSeconds } = waterfall({ created_at: at(0), started_at: null, first_token_at: null, completed_at: null }, true, t0 + 5000);
    expect(segments).toEqual([]);
    expect(totalSeconds).toBe(0);
  });
});
