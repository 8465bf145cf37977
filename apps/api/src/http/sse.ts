import type { AppError } from "@llmq/core";
import type { Response } from "express";
import type { StreamGuard } from "../auth/stream-guard";
import { flexstackErrorEnvelope } from "../flexstack/envelope";
import { openAIErrorBody } from "./error-handler";
import type { Principal } from "./principal";

/** A slow reader is cut off past this much unsent data; it reconnects with Last-Event-ID and loses nothing. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const HEARTBEAT_MS = 15_000;

export interface SseStream {
  send(event: { event?: string; id?: string; data: unknown }): void;
  close(): void;
  readonly closed: boolean;
}

interface SseOptions {
  /** Ends the stream when its credential stops granting it (revoked key, deleted or demoted user, expired token). */
  guard: StreamGuard;
  /** Who opened the stream. */
  principal: Principal;
  /** Does the stream show what only the admin may see (another owner's task, every owner's list)? Default: the caller is an admin. */
  needsAdmin?: boolean;
  /** Called once when the stream closes; `ended` is the credential error that closed it, if one did. */
  onClose(ended?: AppError): void;
}

/**
 * Starts a Server-Sent Events response: headers now, a comment heartbeat so proxies keep it open.
 * Every stream is watched by the StreamGuard: when its credential no longer grants it, the stream
 * sends one last event naming the reason in the route's dialect and closes (Flexstack: `event: error`
 * whose data is the error envelope, e.g. `errors[0].code: "api_key_revoked"`; OpenAI: a
 * `data: {"error": {...}}` frame, without `[DONE]`).
 */
export function openSse(res: Response, options: SseOptions): SseStream {
  res.status(200);
  res.set({
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache, no-transform",
    Connection: "keep-alive",
    "X-Accel-Buffering": "no",
  });
  res.flushHeaders();
  let closed = false;
  const heartbeat = setInterval(() => res.write(": keep-alive\n\n"), HEARTBEAT_MS);
  let unwatch: () => void = () => undefined;
  const close = (ended?: AppError) => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    unwatch();
    options.onClose(ended);
    res.end();
  };
  const send: SseStream["send"] = ({ event, id, data }) => {
    if (closed) return;
    res.locals.checkSseEvent?.(event, data);
    let frame = "";
    if (id) frame += `id: ${id}\n`;
    if (event) frame += `event: ${event}\n`;
    frame += `data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`;
    res.write(frame);
    if (res.writableLength > MAX_BUFFERED_BYTES) close();
  };
  res.on("close", () => close());
  // The client may have left while the route was still awaiting: its "close" has fired already.
  if (res.destroyed) close();
  else {
    unwatch = options.guard.watch(options.principal, options.needsAdmin ?? options.principal.isAdmin, (error) => {
      if (res.locals.dialect === "openai") send({ data: openAIErrorBody(error) });
      else send({ event: "error", data: flexstackErrorEnvelope(error, res.req, res.locals.startedAt ?? new Date()) });
      close(error);
    });
  }
  return {
    get closed() {
      return closed;
    },
    send,
    close: () => close(),
  };
}
