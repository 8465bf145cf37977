import type { AppError } from "@llmq/core";
import type { Response } from "express";
import type { StreamGuard } from "../auth/stream-guard";
import { flexstackErrorEnvelope } from "../flexstack/envelope";
import { openAIErrorBody } from "./error-handler";
import type { Principal } from "./principal";

/** A slow reader is cut off past this much unsent data; it reconnects with Last-Event-ID and loses nothing. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const HEARTBEAT_MS = 15_000;

const SSE_HEADERS: [string, string][] = [
  ["Content-Type", "text/event-stream; charset=utf-8"],
  ["Cache-Control", "no-cache, no-transform"],
  ["Connection", "keep-alive"],
  ["X-Accel-Buffering", "no"],
];

/**
 * Every open stream of the process, sent a comment heartbeat by ONE timer (a timer per stream costs
 * memory per stream); a stream opened just before a beat gets its first one early, which is harmless.
 * The timer runs while a stream is open, and stops when the last one closes.
 */
const heartbeats = new Set<Response>();
let heartbeat: NodeJS.Timeout | null = null;
function beat(): void {
  for (const res of heartbeats) res.write(": keep-alive\n\n");
}
function stopHeartbeatIfIdle(): void {
  if (heartbeats.size > 0 || !heartbeat) return;
  clearInterval(heartbeat);
  heartbeat = null;
}

export interface SseStream {
  send(event: { event?: string; id?: string; data: unknown }): void;
  close(): void;
  readonly closed: boolean;
  /** Bytes written and not yet taken by the socket (its reader is behind by at least this much). */
  readonly unsent: number;
}

export interface SseOptions {
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
  res.statusCode = 200;
  for (const [name, value] of SSE_HEADERS) res.setHeader(name, value);
  res.flushHeaders();
  // A stream outlives its routing, and never calls `next`: Express's router leaves `req.next` pointing
  // at its continuation, which holds every router's dispatch state for the request (about 1 KiB per
  // open stream, bench figure 6). Errors of a stream are answered on the stream, never through `next`.
  res.req.next = undefined;
  const stream = new SseResponse(res, options);
  heartbeats.add(res);
  if (!heartbeat) {
    heartbeat = setInterval(beat, HEARTBEAT_MS);
    heartbeat.unref();
  }
  res.on("close", () => stream.close());
  // The client may have left while the route was still awaiting: its "close" has fired already.
  if (res.destroyed) stream.close();
  else stream.watch();
  return stream;
}

/**
 * One open stream. A class, and callbacks as anonymous arrows, because the services run under tsx,
 * whose esbuild `keepNames` gives every named closure created per stream a property array of its own
 * (about 256 bytes each): the memory per open stream is counted (bench, figure 6).
 */
class SseResponse implements SseStream {
  closed = false;
  private unwatch: (() => void) | null = null;

  constructor(
    private readonly res: Response,
    private readonly options: SseOptions,
  ) {}

  get unsent(): number {
    return this.res.writableLength;
  }

  watch(): void {
    const { options } = this;
    this.unwatch = options.guard.watch(options.principal, options.needsAdmin ?? options.principal.isAdmin, (error) => this.revoked(error));
  }

  send({ event, id, data }: { event?: string; id?: string; data: unknown }): void {
    if (this.closed) return;
    this.res.locals.checkSseEvent?.(event, data);
    let frame = "";
    if (id) frame += `id: ${id}\n`;
    if (event) frame += `event: ${event}\n`;
    frame += `data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`;
    this.res.write(frame);
    if (this.res.writableLength > MAX_BUFFERED_BYTES) this.close();
  }

  close(ended?: AppError): void {
    if (this.closed) return;
    this.closed = true;
    heartbeats.delete(this.res);
    stopHeartbeatIfIdle();
    this.unwatch?.();
    this.options.onClose(ended);
    this.res.end();
  }

  /** Its credential no longer grants it: one last event naming why, in the route's dialect. */
  private revoked(error: AppError): void {
    const { res } = this;
    if (res.locals.dialect === "openai") this.send({ data: openAIErrorBody(error) });
    else this.send({ event: "error", data: flexstackErrorEnvelope(error, res.req, res.locals.startedAt ?? new Date()) });
    this.close(error);
  }
}
