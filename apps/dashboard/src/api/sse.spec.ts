import { describe, expect, it } from "vitest";
import { type EventSourceMessage, readSse, reconnectDelayMs } from "./sse";

function streamOf(chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(typeof chunk === "string" ? encoder.encode(chunk) : chunk);
      controller.close();
    },
  });
}

describe("readSse", () => {
  it("parses events split anywhere across chunks, comments and ids included", async () => {
    const events: EventSourceMessage[] = [];
    await readSse(streamOf([": heartbeat\n\nid: 1-0\nevent: to", "ken\ndata: {\"delta\":\"Hi\"}\n", "\nevent: result\ndata: {}\n\n"]), (e) => events.push(e));
    expect(events).toEqual([
      { id: "1-0", event: "token", data: '{"delta":"Hi"}' },
      { id: undefined, event: "result", data: "{}" },
    ]);
  });
  it("keeps a multi-byte character split between two chunks", async () => {
    const bytes = new TextEncoder().encode("data: héllo ✓\n\n");
    const cut = bytes.indexOf(0xe2) + 1; // inside the three bytes of ✓
    const events: EventSourceMessage[] = [];
    await readSse(streamOf([bytes.slice(0, cut), bytes.slice(cut)]), (e) => events.push(e));
    expect(events.map((e) => e.data)).toEqual(["héllo ✓"]);
  });
  it("stops quietly when aborted", async () => {
    const controller = new AbortController();
    const body = new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(new TextEncoder().encode("data: 1\n\n")) });
    const events: string[] = [];
    const done = readSse(body, (e) => {
      events.push(e.data);
      controller.abort();
    }, controller.signal);
    await expect(done).resolves.toBeUndefined();
    expect(events).toEqual(["1"]);
  });
});

describe("reconnectDelayMs", () => {
  it("backs off exponentially up to a ceiling", () => {
    expect([0, 1, 2, 3].map(reconnectDelayMs)).toEqual([500, 1000, 2000, 4000]);
    expect(reconnectDelayMs(20)).toBe(15_000);
  });
});
