import { useEffect, useRef, useState } from "react";
import type { TaskRow } from "@llmq/contract";
import { followSse } from "../api/sse";
import { useAuth } from "../auth/AuthContext";

/** Whether rows update by themselves: connected, (re)connecting, or refused for good. */
export type FeedState = "live" | "connecting" | "off";

/**
 * Follows `GET /v1/ai/tasks/updates` (one SSE connection for the whole list, no polling) and hands each
 * changed row to `onRow`. The feed does not replay, so `onResync` runs each time it is (re)connected:
 * the page reloads what changed before the feed was listening (at first, or while it was down).
 */
export function useTaskUpdates(onRow: (row: TaskRow) => void, onResync: () => void): FeedState {
  const { client } = useAuth();
  const [state, setState] = useState<FeedState>("connecting");
  const handlers = useRef({ onRow, onResync });
  handlers.current = { onRow, onResync };

  useEffect(() => {
    const controller = new AbortController();
    void followSse({
      signal: controller.signal,
      open: (_lastEventId, signal) => client.fetch("/v1/ai/tasks/updates", { signal, headers: { accept: "text/event-stream" } }),
      onOpen: () => {
        setState("live");
        handlers.current.onResync();
      },
      onClosed: () => setState("connecting"),
      onEvent: (message) => {
        if (message.event !== "task") return;
        handlers.current.onRow(JSON.parse(message.data) as TaskRow);
      },
      // The feed is refused only when the session is over (401 signs out) or the API lacks it.
      onRefused: async (response) => {
        setState("off");
        await response.body?.cancel();
      },
    });
    return () => controller.abort();
  }, [client]);
  return state;
}
