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
  /** Files here never expire. */
  expires_at: null;
}

/** The OpenAI `file` object of a stored file. */
export function fileObject(file: FileRecord): FileObject {
  return {
    id: file.id,
    object: "file",
    bytes: Number(file.bytes),
    created_at: Math.floor(file.createdAt.getTime() / 1000),
    filename: file.filename,
    purpose: file.purpose,
    status: "processed",
    status_details: null,
    expires_at: null,
  };
}
