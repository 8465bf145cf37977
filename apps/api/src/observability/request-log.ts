import { randomUUID } from "node:crypto";
import type { Logger } from "@llmq/core";
import type { RequestHandler } from "express";
import { routeLabelOf } from "./route-label";

/** A caller's own request id is kept when it looks like one (so logs join across services); else a UUID. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Longest request path a log line carries. */
const MAX_LOGGED_PATH = 256;
/** pino's level numbers: a line goes out when its level's number is at least the logger's. */
const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Number.POSITIVE_INFINITY };
const enabled = (logger: Logger, level: "debug" | "trace") => (LEVELS[logger.level] ?? 30) <= LEVELS[level]!;

/** Probes and scrapes, asked every few seconds: never an access line of their own, even at debug. */
const QUIET_PATHS = new Set(["/healthz", "/readyz", "/metrics"]);

export interface RequestObserverOptions {
  logger: Logger;
  /** A request that spent longer than this in the service (its wait for its task's upstream excluded) is logged at warn. */
  slowRequestMs: number;
  /** Called once per answered request, with its route label and duration. */
  observe(method: string, route: string, status: number, seconds: number): void;
  /** Called once per answered completion that reported x-llmq-overhead-ms. */
  observeOverhead(route: string, seconds: number): void;
}

/**
 * The one per-request middleware of the edge: gives the request its id (X-Request-Id), notes when it
 * arrived, and when the answer is done records its duration by route and writes its access log line:
 * short and flat, `GET /v1/models 200 1.2 ms` with reqId, method, url, status, ms, route and the task's
 * id when the answer named one (x-task-id). Lines go out at `debug` (request headers too, redacted, at
 * `trace`); at the usual `info` or `warn` only a 5xx ("request failed: ...") or a slow request ("slow
 * request: ...", over `slowRequestMs` in the service, SSE streams and the upstream's own time left out)
 * is logged. Refusals and errors get their own line from the error handler. No child logger is made per
 * request: the line is one call on the process logger, made only when the level lets it out.
 */
export function requestObserver(options: RequestObserverOptions): RequestHandler {
  const { logger, slowRequestMs, observe, observeOverhead } = options;
  return (req, res, next) => {
    const given = req.headers["x-request-id"];
    const id = typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader("X-Request-Id", id);
    const started = performance.now();
    res.locals.arrivedAt = started;
    res.locals.startedAt = new Date();
    res.once("close", () => {
      const ms = performance.now() - started;
      const route = routeLabelOf(req);
      observe(req.method, route, res.statusCode, ms / 1000);
      if (res.locals.overheadMs !== undefined) observeOverhead(route, res.locals.overheadMs / 1000);
      const streamed = String(res.getHeader("content-type") ?? "").startsWith("text/event-stream");
      // The service's own time: less the task's attempt when known, else less a wait for the task that did not end in an answer.
      const { upstreamMs, waitingSince } = res.locals;
      const serviceMs = upstreamMs !== undefined ? ms - upstreamMs : waitingSince !== undefined ? waitingSince - started : ms;
      const slow = !streamed && serviceMs > slowRequestMs;
      const failed = res.statusCode >= 500;
      if (!slow && !failed && (!enabled(logger, "debug") || QUIET_PATHS.has(req.path))) return;
      const taskId = res.getHeader("x-task-id");
      const url = req.originalUrl.slice(0, MAX_LOGGED_PATH);
      const rounded = Math.round(ms * 10) / 10;
      const line = {
        reqId: id,
        method: req.method,
        url,
        status: res.statusCode,
        ms: rounded,
        route,
        ...(typeof taskId === "string" ? { taskId } : {}),
        ...(serviceMs !== ms ? { serviceMs: Math.round(serviceMs * 10) / 10 } : {}),
        // Under `req`, so the logger's redaction of req.headers.* applies.
        ...(enabled(logger, "trace") ? { req: { headers: req.headers } } : {}),
      };
      const summary = `${req.method} ${url} ${res.statusCode} ${rounded} ms`;
      if (failed) logger.error(line, `request failed: ${summary}`);
      else if (slow) logger.warn(line, `slow request: ${summary}`);
      else logger.debug(line, summary);
    });
    next();
  };
}
