import { type EventSourceMessage, readSse, reconnectDelayMs } from "@llmq/client";

export type { EventSourceMessage };

export interface FollowOptions {
  /** Opens the stream; `lastEventId` is the id of the last event seen, to resume after it. */
  open: (lastEventId: string | null, signal: AbortSignal) => Promise<Response>;
  onEvent: (message: EventSourceMessage) => void;
  /** Called when a stream is open (again): the caller may reload what it could have missed. */
  onOpen?: () => void;
  /** Called when an open stream ended or failed and a reconnect is coming. */
  onClosed?: () => void;
  /** A response that is not OK: the stream stops for good (e.g. 401, 404). */
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

/**
 * Follows an SSE endpoint that never ends by itself (the live task list, which @llmq/client does not
 * cover: a task's own events go through its `events`) across disconnects, until aborted.
 */
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
      for await (const message of readSse(response.body, signal)) {
        if (message.id) lastEventId = message.id;
        options.onEvent(message);
      }
    } catch {
      if (signal.aborted) return;
      // A network drop: try again below, after a pause.
      failures += 1;
    }
    if (!signal.aborted) options.onClosed?.();
    await sleep(reconnectDelayMs(failures), signal);
  }
}
