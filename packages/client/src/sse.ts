import { type EventSourceMessage, createParser } from "eventsource-parser";

export type { EventSourceMessage };

/**
 * The Server-Sent Events of a response body, as they arrive, until it ends (or `signal` aborts: then it
 * stops quietly). `fetch` and a stream rather than `EventSource`, which cannot send `Authorization`.
 */
export async function* readSse(body: ReadableStream<Uint8Array>, signal?: AbortSignal): AsyncGenerator<EventSourceMessage> {
  const queue: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (message) => queue.push(message) });
  // stream: true keeps a multi-byte character split across chunks whole.
  const decoder = new TextDecoder();
  const reader = body.getReader();
  const stop = () => void reader.cancel().catch(() => undefined);
  signal?.addEventListener("abort", stop, { once: true });
  try {
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (error) {
        if (signal?.aborted) return;
        throw error;
      }
      if (chunk.done) break;
      parser.feed(decoder.decode(chunk.value, { stream: true }));
      while (queue.length > 0) yield queue.shift()!;
    }
    parser.feed(decoder.decode());
    while (queue.length > 0) yield queue.shift()!;
  } finally {
    signal?.removeEventListener("abort", stop);
    // A consumer that stopped early (break) leaves the body unread: cancel it, so the connection closes.
    await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/** Wait before reconnect number `attempt` (0-based): 0.5 s doubling up to 15 s, so a down API is not hammered. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(15_000, 500 * 2 ** Math.max(0, attempt));
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
