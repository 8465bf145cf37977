import type { Request } from "express";

/** True when the client asked for an immediate 202 (`Prefer: respond-async`, RFC 7240), in either dialect. */
export function prefersAsync(req: Request): boolean {
  return /\brespond-async\b/i.test(req.get("prefer") ?? "");
}
