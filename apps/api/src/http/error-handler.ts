import { AppError, InternalError, type Logger, MAX_ERROR_MESSAGE_CHARS, PayloadTooLargeError, ServiceUnavailableError, ValidationError, truncate } from "@llmq/core";
import { isDatabaseUnavailable } from "@llmq/db";
import { isRedisUnavailable } from "@llmq/queue";
import type { ErrorRequestHandler, Request, Response } from "express";
import { flexstackErrorEnvelope } from "../flexstack/envelope";
import { truncatedBody, undecodable, unsupportedEncoding } from "./body-encoding";
import { isUnder } from "./path-aliases";
import type { Dialect } from "./principal";

/** Longest request path a log line carries. */
const MAX_LOGGED_PATH = 256;

/** OpenAI's error `type` for each status class, as its SDKs expect. */
function openAIErrorType(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 404) return "invalid_request_error";
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return status === 503 ? "service_unavailable" : "api_error";
  return "invalid_request_error";
}

/** An error answered with a 4xx by something in front of our routes (body-parser, zlib under it). */
interface ClientFault {
  type?: unknown;
  status?: unknown;
  code?: unknown;
  /** http-errors' mark of an error meant for the client (body-parser sets it on what it passes on). */
  expose?: unknown;
}

/** zlib's codes (`Z_DATA_ERROR`), brotli's (`ERR__ERROR_FORMAT_PADDING_2`) and zstd's (`ZSTD_error_prefix_unknown`) for input that does not decode. */
const DECOMPRESSION_CODE = /^(Z_|ERR__ERROR|ERR_BROTLI|ZSTD_error)/;

/**
 * body-parser's own errors, turned into ours so they are answered like any other bad request. A body
 * that does not decode under its Content-Encoding (gzip that is not gzip) is the caller's fault too.
 */
function fromBodyParser(error: unknown): AppError | null {
  const { type, status, code, expose } = (error ?? {}) as ClientFault;
  if (type === "entity.too.large") return new PayloadTooLargeError("Request body is larger than the limit (counted after decompression).", { param: "body" });
  if (type === "entity.parse.failed") return new ValidationError("Request body is not valid JSON.", { param: "body", code: "invalid_json" });
  if (type === "encoding.unsupported") return unsupportedEncoding();
  if (type === "charset.unsupported") return new ValidationError("Unsupported charset: send UTF-8.", { param: "body" });
  if (typeof code === "string" && DECOMPRESSION_CODE.test(code)) return undecodable();
  if (type === "request.aborted" || type === "request.size.invalid") return truncatedBody();
  if (expose === true && typeof status === "number" && status >= 400 && status < 500) return new ValidationError("The request body could not be read.", { param: "body" });
  return null;
}

/** Express's router fails to decode a path parameter such as `%zz` with a URIError: the caller's URL is malformed. */
function fromRouter(error: unknown): AppError | null {
  if (error instanceof URIError) return new ValidationError("The URL path is not valid percent-encoding.", { param: "path", code: "invalid_path" });
  return null;
}

/**
 * Postgres or Redis out of reach: the request may succeed later, so 503 rather than 500. Each store's own
 * classifier judges (no list of socket codes here): another component's refused connection is a 500.
 */
function fromInfrastructure(error: unknown): AppError | null {
  if (isDatabaseUnavailable(error) || isRedisUnavailable(error)) {
    return new ServiceUnavailableError("A backing service is unavailable; retry shortly.", { retryAfterSeconds: 2 });
  }
  return null;
}

/** How an error is written: in a dialect, or (outside both APIs) as plain JSON. */
type ErrorShape = Dialect | "plain";

/** Prefixes of the Flexstack dialect: the task API (with and without `/v1`), administration and accounts. */
const FLEXSTACK_PREFIXES = ["/ai", "/v1/ai", "/v1/admin", "/v1/auth", "/v1/users"];

/**
 * The shape of a request's error: its route's dialect, or, before any route took it (an unknown path,
 * a refusal in front of the routers), the one its prefix implies: the Flexstack envelope under the task
 * API's prefixes, OpenAI's error object under the rest of `/v1`, and plain JSON anywhere else.
 */
function shapeOf(req: Request, res: Response): ErrorShape {
  if (res.locals.dialect) return res.locals.dialect;
  const path = req.path;
  if (FLEXSTACK_PREFIXES.some((prefix) => isUnder(path, prefix))) return "flexstack";
  return isUnder(path, "/v1") ? "openai" : "plain";
}

/** OpenAI's error object: in responses, in streams that already started, and in batch error files. */
export function openAIErrorBody(error: AppError) {
  return { error: { message: error.message, type: openAIErrorType(error.status), param: error.param, code: error.code } };
}

/** Plain JSON, for paths outside both APIs: `{"error": "route_not_found", "message": "No route GET /x."}`. */
function plainErrorBody(error: AppError) {
  return { error: error.code, message: error.message };
}

/** Writes `error` in the caller's dialect (plain JSON outside both APIs). */
function errorBody(shape: ErrorShape, error: AppError, req: Request, startedAt: Date) {
  if (shape === "plain") return plainErrorBody(error);
  return shape === "openai" ? openAIErrorBody(error) : flexstackErrorEnvelope(error, req, startedAt);
}

/**
 * What an unexpected error's log line carries: its kind, a cut message and stack, and its code. Never the
 * whole object: errors from parsers carry the request body, and one may be too large to serialise.
 */
function loggable(error: unknown) {
  if (!(error instanceof Error)) return { type: typeof error };
  const { code } = error as { code?: unknown };
  return { type: error.name, message: truncate(error.message, MAX_ERROR_MESSAGE_CHARS), stack: truncate(error.stack ?? "", 4 * MAX_ERROR_MESSAGE_CHARS), ...(typeof code === "string" ? { code } : {}) };
}

/** The answer of last resort, when answering properly failed: fixed bytes, nothing taken from the request. */
const LAST_RESORT: Record<ErrorShape, string> = {
  openai: JSON.stringify(openAIErrorBody(new InternalError("The server failed to handle this request."))),
  flexstack: JSON.stringify({ data: null, errors: [{ code: "internal_error", message: "The server failed to handle this request.", param: null }], error_description: "The server failed to handle this request.", status: "error" }),
  plain: JSON.stringify(plainErrorBody(new InternalError("The server failed to handle this request."))),
};

function answerLastResort(req: Request, res: Response): void {
  try {
    if (!res.headersSent) {
      res.statusCode = 500;
      res.setHeader("Content-Type", "application/json; charset=utf-8");
      res.end(LAST_RESORT[shapeOf(req, res)]);
    } else res.end();
  } catch {
    res.destroy();
  }
}

/**
 * The one place errors become HTTP responses: typed errors keep their status, anything else is a logged
 * 500. Log lines carry the status, code, field and path, never the caller's values; answers are bounded.
 * It cannot itself fail into Express's default error page (which would show a stack trace): if answering
 * fails, a fixed 500 body goes out instead.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    try {
      const known = error instanceof AppError ? error : (fromBodyParser(error) ?? fromRouter(error) ?? fromInfrastructure(error));
      const appError = known ?? new InternalError("The server failed to handle this request.");
      logQuietly(logger, () => {
        const path = truncate(req.path, MAX_LOGGED_PATH);
        // A refusal's message may quote what the caller sent: its log line names the code and field instead.
        if (known) logger.warn({ status: appError.status, code: appError.code, param: appError.param, path }, appError.status < 500 ? "request refused" : appError.message);
        else logger.error({ err: loggable(error), path }, "unhandled error");
      });
      if (res.headersSent) {
        res.end();
        return;
      }
      if (appError.retryAfterSeconds !== null) res.set("Retry-After", String(appError.retryAfterSeconds));
      const startedAt = res.locals.startedAt ?? new Date();
      res.status(appError.status).json(errorBody(shapeOf(req, res), appError, req, startedAt));
    } catch (failure) {
      logQuietly(logger, () => logger.error({ err: loggable(failure), original: loggable(error) }, "the error handler failed; answered a plain 500"));
      answerLastResort(req, res);
    }
  };
}

/** Logging must not change the answer: a logger that throws (a broken destination) is ignored here. */
function logQuietly(logger: Logger, write: () => void): void {
  try {
    write();
  } catch {
    // Nothing better to do with a failing logger than to answer anyway.
  }
}
