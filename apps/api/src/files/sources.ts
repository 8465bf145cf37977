import type { FileRepository, Viewer } from "@llmq/db";
import { type FileObject, fileObject } from "./format";

/**
 * Where a file's metadata and bytes come from. Uploaded files live in Postgres (`uploadedFiles`); a
 * feature that produces files without uploading them (say, batch results read from their tasks) adds
 * its own source to `filesRouter` and claims its ids with `owns`, e.g. `id.startsWith("file-batch")`.
 */
export interface FileSource {
  /** True for the ids this source serves. */
  owns(fileId: string): boolean;
  /** The file if `viewer` may see it; null otherwise (answered as 404, whoever owns it). */
  find(fileId: string, viewer: Viewer): Promise<FileObject | null>;
  /** The bytes, in order, exactly `find(...).bytes` of them; called only after `find` found the file. */
  content(fileId: string): AsyncIterable<Uint8Array>;
  /** Deletes the file; false when `viewer` sees no such file. */
  delete(fileId: string, viewer: Viewer): Promise<boolean>;
}

/** The files uploaded through `POST /v1/files`, stored in chunks in Postgres, kept `retentionDays` (0: until deleted): the default source. */
export function uploadedFiles(files: FileRepository, retentionDays: number): FileSource {
  return {
    owns: () => true,
    find: async (fileId, viewer) => {
      const file = await files.findVisible(fileId, viewer);
      return file ? fileObject(file, retentionDays) : null;
    },
    content: (fileId) => files.content(fileId),
    delete: (fileId, viewer) => files.delete(fileId, viewer),
  };
}
