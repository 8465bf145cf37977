import type { Readable } from "node:stream";
import { PayloadTooLargeError, ValidationError } from "@llmq/core";
import { type FileQuota, FileQuotaExceeded, type FileRecord, type FileRepository, type StagedFile } from "@llmq/db";
import busboy, { type Busboy } from "busboy";
import type { Request } from "express";
import { filePurposeSchema } from "@llmq/contract";

export interface UploadOptions {
  files: FileRepository;
  ownerId: string;
  maxBytes: number;
  /** The owner's quotas: files and bytes stored in all (0: none). */
  quota: Omit<FileQuota, "expectedBytes">;
}

const FIELDS = new Set(["file", "purpose"]);

/** The file's bytes as they arrive, failing with 413 as soon as they pass `maxBytes`. */
async function* capped(stream: Readable, maxBytes: number): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const piece of stream as AsyncIterable<Buffer>) {
    total += piece.length;
    if (total > maxBytes) throw new PayloadTooLargeError(`The file is larger than the limit of ${maxBytes} bytes.`, { param: "file" });
    yield piece;
  }
}

function openParser(req: Request): Busboy {
  try {
    // One file and a few small fields; UTF-8 filenames, as browsers and the openai SDK send them.
    return busboy({ headers: req.headers, defParamCharset: "utf8", limits: { files: 1, fields: 4, parts: 6, fieldSize: 1024 } });
  } catch {
    throw new ValidationError("Send the file as multipart/form-data with the fields 'file' and 'purpose'.", { param: "file", code: "invalid_content_type" });
  }
}

/** Reads and discards the rest of the body, so the client, still sending, gets to read our answer. */
function drain(req: Request): Promise<void> {
  if (req.complete || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    req.once("end", resolve);
    req.once("close", resolve);
    req.resume();
  });
}

/**
 * Receives `POST /v1/files`: parses the multipart body as a stream and hands the file's bytes to the
 * repository as they arrive, so a 200 MB file never sits in memory; busboy's file stream is pulled
 * only as fast as chunks are inserted, which pauses the request in turn (backpressure). The fields
 * may come in any order (the openai SDK sends `file` before `purpose`), so the file is staged
 * invisible and published once the whole form checks out. On any failure nothing stays stored.
 */
export async function receiveUpload(req: Request, options: UploadOptions): Promise<FileRecord> {
  const parser = openParser(req);
  const fields = new Map<string, string>();
  let staging: Promise<StagedFile> | undefined;

  const parsed = new Promise<void>((resolve, reject) => {
    parser.on("field", (name, value, info) => {
      if (!FIELDS.has(name)) return reject(new ValidationError(`Unknown field '${name}': send 'file' and 'purpose'.`, { param: name, code: "unknown_parameter" }));
      if (name === "file") return reject(new ValidationError("'file' must be a file part (with a filename), not a text field.", { param: "file" }));
      if (info.valueTruncated) return reject(new ValidationError(`Field '${name}' is too long.`, { param: name }));
      // Checked at once: a bad purpose sent before the file fails before the upload rather than after it.
      if (name === "purpose" && !filePurposeSchema.safeParse(value).success) return reject(purposeError(value));
      fields.set(name, value);
    });
    parser.on("file", (name, stream, info) => {
      if (name !== "file") {
        stream.resume();
        return reject(new ValidationError(`Unexpected file field '${name}': send the file as 'file'.`, { param: name }));
      }
      // The announced size is reserved at once (at most the largest file): a body that says it is
      // larger than what the owner may still store is refused when its bytes pass that, not later.
      const announced = Number(req.get("content-length") ?? 0);
      const quota = { ...options.quota, expectedBytes: Number.isSafeInteger(announced) ? Math.min(announced, options.maxBytes) : 0 };
      staging = options.files.stage({ ownerId: options.ownerId, filename: info.filename || "file", quota }, capped(stream, options.maxBytes));
      staging.catch(reject); // a failed store ends the parse; the request's remaining bytes are drained below
    });
    parser.on("filesLimit", () => reject(new ValidationError("Send one file per upload.", { param: "file" })));
    parser.on("fieldsLimit", () => reject(new ValidationError("Too many form fields: send 'file' and 'purpose'.", { param: "purpose" })));
    parser.on("partsLimit", () => reject(new ValidationError("Too many form parts: send 'file' and 'purpose'.", { param: "file" })));
    parser.on("error", (error: Error) => reject(new ValidationError(`Malformed multipart body: ${error.message}.`, { param: "file", code: "invalid_multipart" })));
    parser.on("close", resolve);
    req.once("close", () => {
      if (!req.complete) reject(new ValidationError("The upload was interrupted before the body ended.", { param: "file", code: "upload_interrupted" }));
    });
  });
  req.pipe(parser);

  try {
    await parsed;
    if (!staging) throw new ValidationError("Missing 'file': send the file as a multipart part named 'file'.", { param: "file" });
    const staged = await staging;
    if (staged.bytes === 0) throw new ValidationError("The file is empty.", { param: "file", code: "empty_file" });
    const purpose = fields.get("purpose"); // checked as it arrived
    if (purpose === undefined) throw new ValidationError(`Missing 'purpose': one of ${filePurposeSchema.options.join(", ")}.`, { param: "purpose" });
    return await options.files.publish(staged, purpose);
  } catch (error) {
    req.unpipe(parser);
    parser.destroy(); // ends the file stream, if still open, so the staging stops and removes its rows
    await staging?.then(
      (staged) => options.files.discard(staged.id),
      () => undefined, // a failed staging has already removed its rows
    );
    await drain(req);
    throw error instanceof FileQuotaExceeded ? quotaError(error) : error;
  }
}

function quotaError(error: FileQuotaExceeded): PayloadTooLargeError {
  return error.limit === "files"
    ? new PayloadTooLargeError(`You have ${error.max} files stored, your limit: delete some (DELETE /v1/files/{file_id}) before uploading more.`, { param: "file", code: "file_count_quota_exceeded" })
    : new PayloadTooLargeError(`This file would take your stored files past your limit of ${error.max} bytes: delete some (DELETE /v1/files/{file_id}) or upload less.`, { param: "file", code: "file_storage_quota_exceeded" });
}

function purposeError(value: string): ValidationError {
  return new ValidationError(`Invalid purpose '${value}': one of ${filePurposeSchema.options.join(", ")}.`, { param: "purpose", code: "invalid_purpose" });
}
