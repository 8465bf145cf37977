import type { Response } from "express";

/** A slow reader is cut off past this much unsent data; it reconnects with Last-Event-ID and loses nothing. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const HEARTBEAT_MS = 15_000;

export interface SseStream {
  send(event: { event?: string; id?: string; data: unknown }): void;
  close(): void;
  readonly closed: boolean;
}

/** Starts a Server-Sent Events response: headers now, a comment heartbeat so proxies keep it open. */
export function openSse(res: Response, onClose: () => void): SseStream {
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
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    onClose();
    res.end();
  };
  res.on("close", close);
  // The client may have left while the route was still awaiting: its "close" has fired already.
  if (res.destroyed) close();
  return {
    get closed() {
      return closed;
    },
    send({ event, id, data }) {
      if (closed) return;
      let frame = "";
      if (id) frame += `id: ${id}\n`;
      if (event) frame += `event: ${event}\n`;
      frame += `data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`;
      res.write(frame);
      if (res.writableLength > MAX_BUFFERED_BYTES) close();
    },
    close,
  };
}
