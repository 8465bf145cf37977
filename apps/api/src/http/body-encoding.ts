import zlib from "node:zlib";
import { byteSizeSchema } from "@llmq/config";
import { PayloadTooLargeError, ValidationError } from "@llmq/core";

// What a request body's bytes and Content-Encoding mean, and the refusals of a body: no Express here, so the
// batch parser's thread decodes with the same code (body-parsers.ts reads bodies on the event loop).

/** A body limit as configured: its value (`1mb`) and the variable that sets it (`BODY_LIMIT`). */
export interface BodyLimit {
  limit: string;
  variable: string;
}

type Decoder = (bytes: Buffer, options: { maxOutputLength: number }) => Buffer;

/** zstd's decoder: Node 23.8 and later have it (the installed types are Node 20's). */
const zstd = (zlib as unknown as { zstdDecompressSync?: Decoder }).zstdDecompressSync;

/** The Content-Encodings a body may come in: body-parser's list (zstd where Node has it), so every route accepts the same. */
const DECODERS: Record<string, Decoder | null> = {
  identity: null,
  gzip: zlib.gunzipSync,
  deflate: zlib.inflateSync,
  br: zlib.brotliDecompressSync,
  ...(zstd ? { zstd } : {}),
};

export type ContentEncoding = "identity" | "gzip" | "deflate" | "br" | "zstd";

/** The request's Content-Encoding (`identity` when there is none), or null when it is not one we decode. */
export function contentEncodingOf(header: string | undefined): ContentEncoding | null {
  const name = (header ?? "identity").toLowerCase();
  return Object.hasOwn(DECODERS, name) ? (name as ContentEncoding) : null;
}

/** `64mb` in bytes, as body-parser counts it: the configuration's own size reading (@llmq/config). */
export function sizeInBytes(size: string): number {
  return byteSizeSchema.parse(size);
}

/**
 * The most bytes a body of `decoded` bytes can take once encoded by any accepted encoding: zstd's bound, the
 * loosest of zlib's, brotli's and zstd's (input + 1/256 + a frame), with room to spare. Encoded bytes are
 * held to it before they are decoded: a body within the limit never passes it.
 */
export function encodedBound(decoded: number): number {
  return decoded + (decoded >> 8) + 1024;
}

/** The 413 of a body over `limit`: names the limit, its bytes, and the variable that raises it. */
export function tooLarge({ limit, variable }: BodyLimit, bytes?: number): PayloadTooLargeError {
  const exact = bytes === undefined ? "" : ` (${bytes.toLocaleString("en")} bytes)`;
  return new PayloadTooLargeError(
    `Request body is larger than the limit of ${limit}${exact}, counted after decompression: send a smaller body, or have the operator raise ${variable}.`,
    { param: "body" },
  );
}

/** The 400 of a body that does not decode under its Content-Encoding (gzip that is not gzip). */
export function undecodable(): ValidationError {
  return new ValidationError("Request body does not decode under its Content-Encoding.", { param: "body", code: "invalid_content_encoding" });
}

/** The encodings a body may be sent in, for the caller to read (zstd only where Node decodes it). */
const ACCEPTED = Object.keys(DECODERS).filter((name) => name !== "identity");

/** The 400 of a Content-Encoding we do not decode: names the ones we do. */
export function unsupportedEncoding(): ValidationError {
  return new ValidationError(`Unsupported Content-Encoding: send ${ACCEPTED.join(", ")} or none.`, { param: "body", code: "unsupported_content_encoding" });
}

/** The 400 of a body that ended before its announced length, or ran past it. */
export function truncatedBody(): ValidationError {
  return new ValidationError("The request body ended before its announced length.", { param: "body" });
}

/**
 * A body as it came over the wire: its bytes, their Content-Encoding, and, when encoded, the limit its
 * decoded size is held to.
 */
export type EncodedBody = { bytes: Buffer; encoding: "identity" } | { bytes: Buffer; encoding: Exclude<ContentEncoding, "identity">; limit: BodyLimit };

/**
 * The body's bytes decoded under its encoding, stopped as soon as the output passes its limit (a bomb is
 * never inflated past it): PayloadTooLargeError past the limit, ValidationError (`invalid_content_encoding`)
 * when the bytes do not decode. Synchronous: for a worker thread (batch-parser.thread.ts), never the event loop.
 */
export function decodeBody(body: EncodedBody): Buffer {
  if (body.encoding === "identity") return body.bytes;
  const decode = DECODERS[body.encoding]!;
  const maxBytes = sizeInBytes(body.limit.limit);
  try {
    return decode(body.bytes, { maxOutputLength: maxBytes });
  } catch (error) {
    if ((error as { code?: unknown }).code === "ERR_BUFFER_TOO_LARGE") throw tooLarge(body.limit, maxBytes);
    throw undecodable();
  }
}
