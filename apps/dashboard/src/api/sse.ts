import { type EventSourceMessage, createParser } from "eventsource-parser";

export type { EventSourceMessage };

/**
 * Reads Server-Sent Events from a response body until it ends (or `signal` aborts), calling `onEvent` for
 * each. `fetch` + a stream rather than `EventSource`, because EventSource cannot send `Authorization`.
 */
export async function readSse(body: ReadableStream<Uint8Array>, onEvent: (message: EventSourceMessage) => void, signal?: AbortSignal): Promise<void> {
  const parser = createParser({ onEvent });
  const decoder = new TextDecoder();
  const reader = body.getReader();
  const stop = () => void reader.cancel().catch(() => undefined);
  signal?.addEventListener("abort", stop, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      // stream: true keeps a multi-byte character split across chunks whole.
      parser.feed(decoder.decode(value, { stream: true }));
    }
    parser.feed(decoder.decode());
  } catch (error) {
    if (!signal?.aborted) throw error;
  } finally {
    signal?.removeEventListener("abort", stop);
    reader.releaseLock();
  }
}

/** Wait before reconnect number `attempt` (0-based): 0.5 s doubling up to 15 s, so a down API is not hammered. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(15_000, 500 * 2 ** Math.max(0, attempt));
}

export interface FollowOptions {
  /** Opens the stream; `lastEventId` is the id of the last event seen, to resume after it. */
  open: (lastEventId: string | null, signal: AbortSignal) => Promise<Response>;
  onEvent: (message: EventSourceMessage) => void;
  /** Called when a stream is open (again): the caller may reload what it could have missed. */
  onOpen?: () => void;
  /** Called when an open stream ended or failed and a reconnect is coming. */
  onClosed?: () => void;
  /** True when the stream closing is the end (a task's events after its result), not a drop. */
  isDone?: () => boolean;
  /** A response that is not OK: return true to stop for good (e.g. 401, 404). */
  onRefused: (response: Response) => Promise<void>;
  signal: AbortSignal;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

/** Follows an SSE endpoint across disconnects, resuming after the last event id, until done or aborted. */
export async function followSse(options: FollowOptions): Promise<void> {
  const { signal } = options;
  let lastEventId: string | null = null;
  let failures = 0;
  while (!signal.aborted) {
    try {
      const response = await options.open(lastEventId, signal);
      if (!response.ok || !response.body) {
        await options.onRefused(response);
        return;
      }
      failures = 0;
      options.onOpen?.();
      await readSse(
        response.body,
        (message) => {
          if (message.id) lastEventId = message.id;
          options.onEvent(message);
        },
        signal,
      );
      if (options.isDone?.()) return;
    } catch {
      if (signal.aborted) return;
      // A network drop: try again below, after a pause.
      failures += 1;
    }
    if (!signal.aborted) options.onClosed?.();
    await sleep(reconnectDelayMs(failures), signal);
  }
}
