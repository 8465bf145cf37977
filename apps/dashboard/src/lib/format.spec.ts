import { describe, expect, it } from "vitest";
import { NONE, formatCount, formatDuration, formatEndpoint, formatMs, formatQueuePlace, formatRate, secondsBetween, tokensPerSecond } from "./format";

describe("formatDuration", () => {
  it("picks the unit that reads best", () => {
    expect(formatDuration(0.0504)).toBe("50 ms");
    expect(formatDuration(4.24)).toBe("4.2 s");
    expect(formatDuration(12)).toBe("12.0 s");
    expect(formatDuration(185)).toBe("3 min 05 s");
    expect(formatDuration(7620)).toBe("2 h 07 min");
  });
  it("shows a dash for values that do not exist yet", () => {
    expect(formatDuration(null)).toBe(NONE);
    expect(formatDuration(undefined)).toBe(NONE);
    expect(formatDuration(-1)).toBe(NONE);
    expect(formatDuration(Number.NaN)).toBe(NONE);
  });
  it("formats milliseconds through the same rules", () => {
    expect(formatMs(1500)).toBe("1.5 s");
    expect(formatMs(null)).toBe(NONE);
  });
});

describe("tokensPerSecond", () => {
  const base = { started_at: "2026-01-01T00:00:00.000Z", first_token_at: "2026-01-01T00:00:00.500Z", completed_at: "2026-01-01T00:00:02.500Z" };
  it("divides completion tokens by the time from first token to completion", () => {
    expect(tokensPerSecond({ ...base, usage: { prompt_tokens: 5, completion_tokens: 100, total_tokens: 105 } })).toBe(50);
  });
  it("measures a running task up to now", () => {
    const now = Date.parse("2026-01-01T00:00:01.500Z");
    expect(tokensPerSecond({ ...base, completed_at: null, usage: { prompt_tokens: 5, completion_tokens: 10, total_tokens: 15 } }, now)).toBe(10);
  });
  it("has no rate without tokens or a start", () => {
    expect(tokensPerSecond({ ...base, usage: { prompt_tokens: null, completion_tokens: 0, total_tokens: null } })).toBeNull();
    expect(tokensPerSecond({ started_at: null, first_token_at: null, completed_at: null, usage: { prompt_tokens: 1, completion_tokens: 3, total_tokens: 4 } })).toBeNull();
  });
});

describe("formatRate and formatCount", () => {
  it("keeps a decimal for small rates only", () => {
    expect(formatRate(12.34)).toBe("12.3 tok/s");
    expect(formatRate(1234.4)).toBe("1,234 tok/s");
    expect(formatRate(null)).toBe(NONE);
  });
  it("groups thousands", () => {
    expect(formatCount(100000)).toBe("100,000");
    expect(formatCount(null)).toBe(NONE);
  });
  it("measures between timestamps", () => {
    expect(secondsBetween("2026-01-01T00:00:00Z", "2026-01-01T00:00:01.250Z")).toBe(1.25);
    expect(secondsBetween(null, "2026-01-01T00:00:00Z")).toBeNull();
  });
});

describe("formatQueuePlace", () => {
  it("says where a waiting task stands and how long it may wait", () => {
    expect(formatQueuePlace(1, 0.4)).toBe("next in line · about 400 ms");
    expect(formatQueuePlace(2, null)).toBe("2nd in line");
    expect(formatQueuePlace(3, 12)).toBe("3rd in line · about 12.0 s");
    expect(formatQueuePlace(11, 90)).toBe("11th in line · about 1 min 30 s");
    expect(formatQueuePlace(22, undefined)).toBe("22nd in line");
    expect(formatQueuePlace(null, 5)).toBe(NONE);
    expect(formatQueuePlace(0, 5)).toBe(NONE);
  });
});

describe("formatEndpoint", () => {
  it("names the API a task came through, with the response id of a Responses API task when asked", () => {
    const id = "cf86cbda217c481f8dbc9fb24b7e79e0";
    expect(formatEndpoint({ endpoint: "task", task_id: id })).toBe("Task API");
    expect(formatEndpoint({ endpoint: "chat.completion", task_id: id })).toBe("Chat completions");
    expect(formatEndpoint({ endpoint: "text_completion", task_id: id })).toBe("Completions");
    expect(formatEndpoint({ endpoint: "response", task_id: id })).toBe("Responses");
    expect(formatEndpoint({ endpoint: "response", task_id: id }, { withId: true })).toBe(`Responses (resp_${id})`);
  });
});
