import { PayloadTooLargeError } from "@llmq/core";
import express, { type RequestHandler } from "express";

/** A body limit as configured: its value (`1mb`) and the variable that sets it (`BODY_LIMIT`). */
export interface BodyLimit {
  limit: string;
  variable: string;
}

/** The 413 of a body over `limit`: names the limit, its bytes, and the variable that raises it. */
function tooLarge({ limit, variable }: BodyLimit, bytes: unknown): PayloadTooLargeError {
  const exact = typeof bytes === "number" ? ` (${bytes.toLocaleString("en")} bytes)` : "";
  return new PayloadTooLargeError(
    `Request body is larger than the limit of ${limit}${exact}, counted after decompression: send a smaller body, or have the operator raise ${variable}.`,
    { param: "body" },
  );
}

/** body-parser's error for a body over its limit (`limit`: the limit in bytes). */
function isTooLarge(error: unknown): error is { limit?: unknown } {
  return (error as { type?: unknown } | null)?.type === "entity.too.large";
}

/** `parser` with its 413 naming the limit and its variable; every other error passes on unchanged. */
function naming(parser: RequestHandler, limit: BodyLimit): RequestHandler {
  return (req, res, next) => parser(req, res, (error?: unknown) => next(isTooLarge(error) ? tooLarge(limit, error.limit) : error));
}

/** `express.json` bounded by `limit` (JSON bodies only: anything else is left unread). */
export function jsonBody(limit: BodyLimit): RequestHandler {
  return naming(express.json({ limit: limit.limit }), limit);
}

/** A JSON body read as raw bytes (parsed later, off the event loop), bounded by `limit`. */
export function rawJsonBody(limit: BodyLimit): RequestHandler {
  return naming(express.raw({ type: "application/json", limit: limit.limit }), limit);
}
