import type { BatchRepository, TaskRepository, Viewer } from "@llmq/db";
import type { AppDeps } from "../deps";
import type { FileSource } from "../files/routes";
import { batchEndedAt, batchObject, isGeneratedFileId, parseGeneratedFileId } from "./format";
import { errorLine, outputLine } from "./output-lines";

const PAGE = 1_000;

/**
 * A batch's output and error files, generated from its tasks when read (nothing is stored twice):
 * lines in input order, one per request, keyed by custom_id. They go with the batch's tasks, which the
 * workers delete TASK_RETENTION_DAYS after the batch ended: their `expires_at` (null with 0).
 */
export function batchFiles(deps: { batches: BatchRepository; tasks: TaskRepository; env: Pick<AppDeps["env"], "TASK_RETENTION_DAYS"> }): FileSource {
  const days = deps.env.TASK_RETENTION_DAYS;
  async function* lines(batchId: string, kind: "output" | "errors"): AsyncGenerator<Uint8Array> {
    for (let after = -1; ; ) {
      const page = await deps.tasks.batchPage(batchId, after, PAGE);
      if (page.length === 0) return;
      after = page[page.length - 1]!.batchIndex ?? Number.MAX_SAFE_INTEGER;
      const text = page
        .filter((task) => (kind === "output" ? task.status === "COMPLETED" : task.status !== "COMPLETED"))
        .map((task) => `${kind === "output" ? outputLine(task) : errorLine(task)}\n`)
        .join("");
      if (text) yield Buffer.from(text);
    }
  }

  return {
    owns: isGeneratedFileId,
    find: async (fileId: string, viewer: Viewer) => {
      const named = parseGeneratedFileId(fileId);
      const batch = named && (await deps.batches.findVisible(named.batchId, viewer));
      if (!named || !batch) return null;
      // Only files the batch advertises exist (after it finished, and only when not empty).
      const advertised = batchObject(batch, await deps.batches.counts(batch.id));
      if ((named.kind === "output" ? advertised.output_file_id : advertised.error_file_id) !== fileId) return null;
      const endedAt = batchEndedAt(batch);
      let bytes = 0;
      for await (const piece of lines(batch.id, named.kind)) bytes += piece.byteLength;
      return {
        id: fileId,
        object: "file" as const,
        bytes,
        created_at: advertised.completed_at ?? advertised.expired_at ?? advertised.cancelled_at ?? advertised.created_at ?? 0,
        filename: `${batch.id}_${named.kind}.jsonl`,
        purpose: "batch_output",
        status: "processed" as const,
        status_details: null,
        expires_at: days > 0 && endedAt ? Math.floor(endedAt.getTime() / 1000) + days * 86_400 : null,
      };
    },
    content: (fileId: string) => {
      const named = parseGeneratedFileId(fileId);
      if (!named) throw new Error(`not a batch file: ${fileId}`);
      return lines(named.batchId, named.kind);
    },
    // Results belong to their batch: they go when the batch's tasks go.
    delete: async () => false,
  };
}
