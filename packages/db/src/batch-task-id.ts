import { createHash } from "node:crypto";

/** The task id of line `index` of a batch: derived, so a repeated ingest finds the same rows and jobs. */
export function batchTaskId(batchId: string, index: number): string {
  return createHash("sha256").update(`${batchId}:${index}`).digest("hex").slice(0, 32);
}
