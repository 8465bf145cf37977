import type { FileRecord } from "@llmq/db";

/** OpenAI's `file` object. */
export interface FileObject {
  id: string;
  object: "file";
  bytes: number;
  /** Unix seconds. */
  created_at: number;
  filename: string;
  purpose: string;
  /** Deprecated by OpenAI, still read by older clients: a stored file is always `processed`. */
  status: "processed";
  status_details: null;
  /** Unix seconds from which the workers delete it (FILE_RETENTION_DAYS after its upload; later while an open batch reads it); null: kept until deleted. */
  expires_at: number | null;
}

/** The OpenAI `file` object of a stored file, kept `retentionDays` after its upload (0: until deleted). */
export function fileObject(file: FileRecord, retentionDays: number): FileObject {
  const createdAt = Math.floor(file.createdAt.getTime() / 1000);
  return {
    id: file.id,
    object: "file",
    bytes: Number(file.bytes),
    created_at: createdAt,
    filename: file.filename,
    purpose: file.purpose,
    status: "processed",
    status_details: null,
    expires_at: retentionDays > 0 ? createdAt + retentionDays * 86_400 : null,
  };
}
