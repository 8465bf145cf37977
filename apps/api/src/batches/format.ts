import type { BatchCounts, BatchRecord } from "@llmq/db";

const FILE_PREFIX = "file-batch-";

/** Ids of a batch's generated files: results of completed requests, and the rest. */
export function outputFileId(batchId: string): string {
  return `${FILE_PREFIX}${batchId.slice("batch_".length)}-output`;
}
export function errorFileId(batchId: string): string {
  return `${FILE_PREFIX}${batchId.slice("batch_".length)}-errors`;
}

/** The batch and which of its files a generated-file id names, or null for other ids. */
export function parseGeneratedFileId(fileId: string): { batchId: string; kind: "output" | "errors" } | null {
  const match = /^file-batch-([0-9a-f]{32})-(output|errors)$/.exec(fileId);
  return match ? { batchId: `batch_${match[1]}`, kind: match[2] as "output" | "errors" } : null;
}

export function isGeneratedFileId(fileId: string): boolean {
  return fileId.startsWith(FILE_PREFIX);
}

const FINAL = new Set(["completed", "expired", "cancelled", "failed"]);

function seconds(date: Date | null): number | null {
  return date ? Math.floor(date.getTime() / 1000) : null;
}

/** When the batch ended: the stamp of its final status (the latest, should several be set; as the workers' retention reads it); null while open. */
export function batchEndedAt(batch: Pick<BatchRecord, "completedAt" | "failedAt" | "expiredAt" | "cancelledAt">): Date | null {
  const stamps = [batch.completedAt, batch.failedAt, batch.expiredAt, batch.cancelledAt].filter((stamp): stamp is Date => stamp !== null);
  return stamps.length === 0 ? null : new Date(Math.max(...stamps.map((stamp) => stamp.getTime())));
}

/** A batch in OpenAI's shape; `failed` counts every request that did not complete. */
export function batchObject(batch: BatchRecord, counts: BatchCounts) {
  const completed = counts.COMPLETED;
  const failed = counts.FAILED + counts.CANCELLED + counts.EXPIRED;
  const final = FINAL.has(batch.status) && batch.status !== "failed";
  return {
    id: batch.id,
    object: "batch" as const,
    endpoint: batch.endpoint,
    errors: batch.errors ?? null,
    input_file_id: batch.inputFileId,
    completion_window: batch.completionWindow,
    status: batch.status,
    output_file_id: final && completed > 0 ? outputFileId(batch.id) : null,
    error_file_id: final && failed > 0 ? errorFileId(batch.id) : null,
    created_at: seconds(batch.createdAt),
    in_progress_at: seconds(batch.inProgressAt),
    expires_at: seconds(batch.expiresAt),
    finalizing_at: seconds(batch.finalizingAt),
    completed_at: seconds(batch.completedAt),
    failed_at: seconds(batch.failedAt),
    expired_at: seconds(batch.expiredAt),
    cancelling_at: seconds(batch.cancellingAt),
    cancelled_at: seconds(batch.cancelledAt),
    request_counts: { total: batch.totalCount, completed, failed },
    metadata: batch.metadata ?? null,
  };
}
