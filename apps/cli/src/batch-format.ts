import type { Batch } from "openai/resources/batches";

export const FINAL_BATCH_STATUSES = new Set(["completed", "failed", "expired", "cancelled"]);

/**
 * The batch's validation errors (a failed file), one line each: `line N: code: message (param)`. The
 * server's messages name their line themselves ("Line 2 is not valid JSON."), which stands to be read
 * on its own; here the line leads already, so the message's own "Line N" (and a following "is") goes.
 */
export function validationErrorLines(batch: Batch): string[] {
  return (batch.errors?.data ?? []).map((e) => {
    const where = e.line != null ? `line ${e.line}` : "file";
    const param = e.param ? ` (${e.param})` : "";
    const message = e.line != null ? withoutLine(e.message ?? "", e.line) : (e.message ?? "");
    return `  ${where}: ${e.code ?? "error"}: ${message}${param}`;
  });
}

function withoutLine(message: string, line: number): string {
  return message.replace(new RegExp(`^Line ${line}(?::\\s*|\\s+(?:is\\s+)?)`), "");
}

/** A human summary: status, counts, result files and any validation errors. */
export function batchSummary(batch: Batch): string {
  const { completed = 0, failed = 0, total = 0 } = batch.request_counts ?? {};
  const lines = [`${batch.id}: ${batch.status}`, `  requests: ${total} total, ${completed} completed, ${failed} failed`];
  if (batch.created_at) lines.push(`  created:  ${new Date(batch.created_at * 1000).toISOString()}`);
  const ended = batch.completed_at ?? batch.failed_at ?? batch.expired_at ?? batch.cancelled_at;
  if (ended && batch.in_progress_at) lines.push(`  ran for:  ${Math.max(0, ended - batch.in_progress_at)}s`);
  if (batch.output_file_id) lines.push(`  output:   ${batch.output_file_id}  (llmq batch results ${batch.id} -o out.jsonl)`);
  if (batch.error_file_id) lines.push(`  errors:   ${batch.error_file_id}  (llmq batch results ${batch.id} --errors -o errors.jsonl)`);
  const errors = validationErrorLines(batch);
  if (errors.length > 0) lines.push("  invalid input:", ...errors);
  return lines.join("\n");
}
