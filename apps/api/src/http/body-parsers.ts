import { finished } from "node:stream";
import type { AppError } from "@llmq/core";
import express, { type Request, type RequestHandler } from "express";
import { type BodyLimit, type EncodedBody, contentEncodingOf, encodedBound, sizeInBytes, tooLarge, truncatedBody, unsupportedEncoding } from "./body-encoding";

/** body-parser's error for a body over its limit (`limit`: the limit in bytes). */
function isTooLarge(error: unknown): error is { limit?: unknown } {
  return (error as { type?: unknown } | null)?.type === "entity.too.large";
}

/** `parser` with its 413 naming the limit and its variable; every other error passes on unchanged. */
function naming(parser: RequestHandler, limit: BodyLimit): RequestHandler {
  return (req, res, next) => parser(req, res, (error?: unknown) => next(isTooLarge(error) ? tooLarge(limit, typeof error.limit === "number" ? error.limit : undefined) : error));
}

/** `express.json` bounded by `limit` (JSON bodies only: anything else is left unread). */
export function jsonBody(limit: BodyLimit): RequestHandler {
  return naming(express.json({ limit: limit.limit }), limit);
}

/**
 * The bytes of `req`'s body, at most `maxBytes` (`overLimit()` past it), in one buffer. With a Content-Length
 * the buffer is allocated once and each chunk copied in as it arrives, a few microseconds per turn of the
 * event loop: no list of chunks to join and collect at the end (joining 64 MB held the loop 40-180 ms).
 * An error is answered once the rest of the body has been read off, as body-parser does, so the connection
 * stays usable.
 */
function readBytes(req: Request, maxBytes: number, overLimit: () => AppError): Promise<Buffer> {
  const header = req.headers["content-length"];
  const announced = header === undefined ? null : Number(header);
  return new Promise((resolve, reject) => {
    let failure: AppError | null = null;
    const whole = announced === null || announced > maxBytes ? null : Buffer.allocUnsafe(announced);
    const chunks: Buffer[] = [];
    let received = 0;
    const onData = (chunk: Buffer) => {
      if (received + chunk.length > maxBytes) return fail(overLimit());
      if (whole && received + chunk.length > whole.length) return fail(truncatedBody());
      if (whole) chunk.copy(whole, received);
      else chunks.push(chunk);
      received += chunk.length;
    };
    const fail = (error: AppError) => {
      if (failure) return;
      failure = error;
      req.removeListener("data", onData);
      // Read off (and drop) what is still coming, then answer.
      req.resume();
      finished(req, () => reject(error));
    };
    if (announced !== null && announced > maxBytes) return fail(overLimit());
    req.on("data", onData);
    finished(req, (error) => {
      if (failure) return;
      if (error || (whole && received !== whole.length)) return fail(truncatedBody());
      resolve(whole ?? Buffer.concat(chunks, received));
    });
  });
}

/**
 * A JSON body read as it was sent, not decoded, for a worker thread to decode and parse off the event loop
 * (NativeBatchParser): its bytes bounded by `limit` when sent plain, and by the most a body within `limit`
 * can take once compressed when sent with a Content-Encoding, so a gzip bomb is never inflated here (the
 * thread stops it at `limit`). Anything but a JSON body is left unread, as `express.json` leaves it.
 */
export function encodedJsonBody(limit: BodyLimit): RequestHandler {
  const limitBytes = sizeInBytes(limit.limit);
  return (req, _res, next) => {
    if (!req.is("application/json")) return next();
    const encoding = contentEncodingOf(req.headers["content-encoding"]);
    if (!encoding) return next(unsupportedEncoding());
    const plain = encoding === "identity";
    // Past its bound a compressed body is past the limit too: the same 413, naming the limit.
    readBytes(req, plain ? limitBytes : encodedBound(limitBytes), () => tooLarge(limit, limitBytes)).then((bytes) => {
      req.body = (plain ? { bytes, encoding } : { bytes, encoding, limit }) satisfies EncodedBody;
      next();
    }, next);
  };
}

/** The body `encodedJsonBody` read, or `{}` when it left it unread (none, or not JSON: the route refuses a non-JSON body first). */
export function encodedBodyOf(req: Request): EncodedBody {
  return (req.body as EncodedBody | undefined) ?? { bytes: Buffer.from("{}"), encoding: "identity" };
}
