import { createHash } from "node:crypto";
import { ValidationError } from "@llmq/core";
import type { Request } from "express";
import type { IdempotencyClaim } from "../services/idempotency-service";
import { canonicalPath } from "./path-aliases";
import { principalOf } from "./principal";

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** The request's `Idempotency-Key`, or null; a malformed one is a 400. */
function idempotencyKeyOf(req: Request): string | null {
  const key = req.get("idempotency-key");
  if (key === undefined) return null;
  if (!KEY_PATTERN.test(key)) throw new ValidationError("Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID is a good choice).", { param: "Idempotency-Key" });
  return key;
}

/** What makes two requests "the same": method, path (an alias as its declared path), query and body (or the digest of its bytes, for bodies read raw). */
function requestHash(req: Request, bodyDigest: string | undefined): string {
  const query = new URLSearchParams(req.query as Record<string, string>);
  query.sort();
  return createHash("sha256")
    .update(`${req.method} ${canonicalPath(req.baseUrl + req.path)}?${query}\n${bodyDigest ?? JSON.stringify(req.body ?? null)}`)
    .digest("hex");
}

/** The request's idempotency claim (its owner, key and what makes it "the same request"), or null without a key. */
export function idempotencyClaimOf(req: Request, bodyDigest?: string): IdempotencyClaim | null {
  const key = idempotencyKeyOf(req);
  return key === null ? null : { ownerId: principalOf(req).userId, key, requestHash: requestHash(req, bodyDigest) };
}
