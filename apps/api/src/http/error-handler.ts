import { AppError, InternalError, type Logger, PayloadTooLargeError, ServiceUnavailableError, ValidationError } from "@llmq/core";
import type { ErrorRequestHandler, Request, Response } from "express";
import { flexstackErrorEnvelope } from "../flexstack/envelope";
import type { Dialect } from "./principal";

/** OpenAI's error `type` for each status class, as its SDKs expect. */
function openAIErrorType(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 404) return "invalid_request_error";
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return status === 503 ? "service_unavailable" : "api_error";
  return "invalid_request_error";
}

/** body-parser's own errors, turned into ours so they are answered like any other bad request. */
function fromBodyParser(error: unknown): AppError | null {
  const type = (error as { type?: unknown })?.type;
  if (type === "entity.too.large") return new PayloadTooLargeError("Request body is larger than the limit.", { param: "body" });
  if (type === "entity.parse.failed") return new ValidationError("Request body is not valid JSON.", { param: "body", code: "invalid_json" });
  if (type === "encoding.unsupported" || type === "charset.unsupported") return new ValidationError("Unsupported body encoding.", { param: "body" });
  return null;
}

/** Express's router fails to decode a path parameter such as `%zz` with a URIError: the caller's URL is malformed. */
function fromRouter(error: unknown): AppError | null {
  if (error instanceof URIError) return new ValidationError("The URL path is not valid percent-encoding.", { param: "path", code: "invalid_path" });
  return null;
}

/** Postgres or Redis out of reach: the request may succeed later, so 503 rather than 500. */
function fromInfrastructure(error: unknown): AppError | null {
  const code = (error as { code?: unknown })?.code;
  const name = (error as { name?: unknown })?.name;
  const infraCodes = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "P1001", "P1017", "P2024", "57P01", "57P03"]);
  if ((typeof code === "string" && infraCodes.has(code)) || name === "MaxRetriesPerRequestError" || name === "DriverAdapterError") {
    return new ServiceUnavailableError("A backing service is unavailable; retry shortly.", { retryAfterSeconds: 2 });
  }
  const message = error instanceof Error ? error.message : "";
  if (/Connection is closed|Stream isn't writeable|Can't reach database server|Connection terminated/.test(message)) {
    return new ServiceUnavailableError("A backing service is unavailable; retry shortly.", { retryAfterSeconds: 2 });
  }
  return null;
}

function dialectOf(req: Request, res: Response): Dialect {
  return res.locals.dialect ?? (req.path.startsWith("/v1/ai") || req.path.startsWith("/v1/admin") ? "flexstack" : "openai");
}

/** OpenAI's error object: in responses, in streams that already started, and in batch error files. */
export function openAIErrorBody(error: AppError) {
  return { error: { message: error.message, type: openAIErrorType(error.status), param: error.param, code: error.code } };
}

/** Writes `error` in the caller's dialect. */
function errorBody(dialect: Dialect, error: AppError, req: Request, startedAt: Date) {
  return dialect === "openai" ? openAIErrorBody(error) : flexstackErrorEnvelope(error, req, startedAt);
}

/** The one place errors become HTTP responses: typed errors keep their status, anything else is a logged 500. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    const known = error instanceof AppError ? error : (fromBodyParser(error) ?? fromRouter(error) ?? fromInfrastructure(error));
    const appError = known ?? new InternalError("The server failed to handle this request.");
    if (known) logger.warn({ err: error, status: appError.status, path: req.path }, appError.message);
    else logger.error({ err: error, path: req.path }, "unhandled error");
    if (res.headersSent) {
      res.end();
      return;
    }
    if (appError.retryAfterSeconds !== null) res.set("Retry-After", String(appError.retryAfterSeconds));
    const startedAt = res.locals.startedAt ?? new Date();
    res.status(appError.status).json(errorBody(dialectOf(req, res), appError, req, startedAt));
  };
}
