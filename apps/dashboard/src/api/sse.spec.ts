import { describe, expect, it } from "vitest";
import { type EventSourceMessage, readSse, reconnectDelayMs } from "@llmq/client";

function streamOf(chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(typeof chunk === "string" ? encoder.encode(chunk) : chunk);
      controller.close();
    },
  });
}

// @llmq/client's SSE reader, as the dashboard's live list and task pages use it in the browser.
async function collect(body: ReadableStream<Uint8Array>, signal?: AbortSignal, onEach?: (e: EventSourceMessage) => void): Promise<EventSourceMessage[]> {
  const events: EventSourceMessage[] = [];
  for await (const e of readSse(body, signal)) {
    events.push(e);
    onEach?.(e);
  }
  return events;
}

describe("readSse", () => {
  it("parses events split anywhere across chunks, comments and ids included", async () => {
    const events = await collect(streamOf([": heartbeat\n\nid: 1-0\nevent: to", "ken\ndata: {\"delta\":\"Hi\"}\n", "\nevent: result\ndata: {}\n\n"]));
    expect(events).toEqual([
      { id: "1-0", event: "token", data: '{"delta":"Hi"}' },
      { id: undefined, event: "result", data: "{}" },
    ]);
  });
  it("keeps a multi-byte character split between two chunks", async () => {
    const bytes = new TextEncoder().encode("data: héllo ✓\n\n");
    const cut = bytes.indexOf(0xe2) + 1; // inside the three bytes of ✓
    const events = await collect(streamOf([bytes.slice(0, cut), bytes.slice(cut)]));
    expect(events.map((e) => e.data)).toEqual(["héllo ✓"]);
  });
  it("stops quietly when aborted", async () => {
    const controller = new AbortController();
    const body = new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(new TextEncoder().encode("data: 1\n\n")) });
    const events = await collect(body, controller.signal, () => controller.abort());
    expect(events.map((e) => e.data)).toEqual(["1"]);
  });
});

describe("reconnectDelayMs", () => {
  it("backs off exponentially up to a ceiling", () => {
    expect([0, 1, 2, 3].map(reconnectDelayMs)).toEqual([500, 1000, 2000, 4000]);
    expect(reconnectDelayMs(20)).toBe(15_000);
  });
});
