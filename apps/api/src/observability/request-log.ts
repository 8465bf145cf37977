import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Options } from "pino-http";

/** A caller's own request id is kept when it looks like one (so logs join across services); else a UUID. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const QUIET_PATHS = new Set(["/healthz", "/readyz", "/metrics"]);

/**
 * pino-http settings: every request log line carries `req.id` (echoed as X-Request-Id) and, when the
 * request made or named a task, `taskId` (from the X-Task-Id answer header). The logger itself redacts
 * authorization headers and secrets (packages/core/src/logger.ts).
 */
export const requestLogOptions: Options<IncomingMessage, ServerResponse> = {
  genReqId: (req, res) => {
    const given = req.headers["x-request-id"];
    const id = typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader("X-Request-Id", id);
    return id;
  },
  customProps: (_req, res) => {
    const taskId = res.getHeader("x-task-id");
    return typeof taskId === "string" ? { taskId } : {};
  },
  autoLogging: { ignore: (req) => QUIET_PATHS.has(req.url ?? "") },
};
