import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { NotFoundError, ValidationError } from "@llmq/core";
import { isFileId } from "@llmq/db";
import { deletedFileSchema, fileListSchema, fileObjectSchema, listFilesQuerySchema, uploadFormSchema } from "@llmq/contract";
import type { Request } from "express";
import { z } from "zod";
import type { AppDeps } from "../deps";
import { principalOf } from "../http/principal";
import { perUserRateLimit } from "../http/rate-limit";
import { DeclaredRouter, route } from "../http/route";
import { json, openAIError, openAIErrors } from "../openapi/responses";
import { fileObject } from "./format";
import { type FileSource, uploadedFiles } from "./sources";
import { receiveUpload } from "./upload";

export type { FileSource } from "./sources";

const filesErrors = {
  400: openAIError("`invalid_request_error`, with `param` naming the field (`file`, `purpose`, or a query parameter)."),
  401: openAIErrors[401],
  404: openAIError("`file_not_found`: no such file visible to this key."),
  503: openAIErrors[503],
};
const fileIdParams = z.object({ fileId: z.string().meta({ description: "`file-` + 32 hex characters." }) });

/** The OpenAI Files API, `/v1/files`. */
export const fileRoutes = {
  upload: route({
    method: "post",
    path: "/v1/files",
    summary: "Upload a file (OpenAI-compatible; multipart/form-data)",
    description:
      "`purpose` is `batch` or `user_data`. The body is read as a stream and stored in 1 MiB chunks in Postgres, up to `FILES_MAX_BYTES` (default 200 MiB); the file is listed only once wholly stored.",
    // Read as a stream by receiveUpload: never buffered, refused as its bytes pass a limit.
    request: { body: { content: { "multipart/form-data": uploadFormSchema }, parse: false } },
    responses: {
      200: json("The stored file.", fileObjectSchema),
      ...filesErrors,
      413: openAIError(
        "`payload_too_large`: the file is larger than `FILES_MAX_BYTES`; `file_storage_quota_exceeded`: it would take the user's stored bytes past `FILES_MAX_TOTAL_BYTES_PER_USER` (refused as its bytes pass); `file_count_quota_exceeded`: the user has `FILES_MAX_PER_USER` files. Nothing is stored.",
      ),
      429: openAIError("`rate_limit_exceeded`: more than `FILES_UPLOADS_PER_MINUTE` uploads by this user this minute; `Retry-After` says when to retry."),
    },
  }),
  list: route({
    method: "get",
    path: "/v1/files",
    summary: "List files (newest first by default; `after` takes the last id of the previous page)",
    request: { query: listFilesQuerySchema },
    responses: { 200: json("One page of files.", fileListSchema), ...filesErrors },
  }),
  get: route({
    method: "get",
    path: "/v1/files/{fileId}",
    summary: "A file's metadata",
    request: { params: fileIdParams },
    responses: { 200: json("The file.", fileObjectSchema), ...filesErrors },
  }),
  remove: route({
    method: "delete",
    path: "/v1/files/{fileId}",
    summary: "Delete a file and its content",
    request: { params: fileIdParams },
    responses: { 200: json("Deleted.", deletedFileSchema), ...filesErrors },
  }),
  content: route({
    method: "get",
    path: "/v1/files/{fileId}/content",
    summary: "A file's bytes, streamed",
    request: { params: fileIdParams },
    responses: {
      200: { description: "The file exactly as uploaded.", content: { "application/octet-stream": z.string().meta({ format: "binary" }) } },
      ...filesErrors,
    },
  }),
};

export type FilesDeps = Pick<AppDeps, "files" | "redis" | "keys" | "logger"> & {
  env: Pick<AppDeps["env"], "FILES_UPLOADS_PER_MINUTE" | "FILES_MAX_PER_USER" | "FILES_MAX_TOTAL_BYTES_PER_USER" | "FILES_MAX_BYTES" | "FILE_RETENTION_DAYS">;
};

/** Staged rows older than this belong to an upload whose process died: removed at the owner's next upload. */
const ABANDONED_UPLOAD_MS = 24 * 60 * 60 * 1000;

export interface FilesRouterOptions {
  /**
   * Extra places files come from, asked in order before the uploaded files: the first source whose
   * `owns(id)` is true answers retrieve, content and delete for that id. Their files are not listed.
   */
  sources?: readonly FileSource[];
}

/** The OpenAI Files API, `/v1/files`: uploads stored in Postgres chunks, served back as streams. */
export function filesRouter(deps: FilesDeps, options: FilesRouterOptions = {}): DeclaredRouter {
  const router = new DeclaredRouter("/v1/files");
  const uploaded = uploadedFiles(deps.files, deps.env.FILE_RETENTION_DAYS);
  const sourceOf = (fileId: string) => options.sources?.find((source) => source.owns(fileId)) ?? uploaded;
  const notFound = (fileId: string) => new NotFoundError(`No file with id '${fileId}'.`, { param: "file_id", code: "file_not_found" });

  /** The file and its source, if the caller may see it. */
  async function visible(fileId: string, req: Request) {
    const source = sourceOf(fileId);
    const file = await source.find(fileId, principalOf(req));
    if (!file) throw notFound(fileId);
    return { source, file };
  }

  // Per user, whichever key or session uploads: quotas are the user's too.
  const uploadLimit = perUserRateLimit({ redis: deps.redis, keys: deps.keys, perMinute: deps.env.FILES_UPLOADS_PER_MINUTE, name: "files", what: "uploads" });
  const quota = { maxFiles: deps.env.FILES_MAX_PER_USER, maxBytes: deps.env.FILES_MAX_TOTAL_BYTES_PER_USER };

  router.handle(fileRoutes.upload, uploadLimit, async (_input, req, res) => {
      const ownerId = principalOf(req).userId;
      deps.files.purgeAbandoned(ownerId, new Date(Date.now() - ABANDONED_UPLOAD_MS)).catch((error: unknown) => deps.logger.warn({ err: error }, "could not purge abandoned uploads"));
      const file = await receiveUpload(req, { files: deps.files, ownerId, maxBytes: deps.env.FILES_MAX_BYTES, quota });
      res.json(fileObject(file, deps.env.FILE_RETENTION_DAYS));
  });

  router.handle(fileRoutes.list, async ({ query }, req, res) => {
      if (query.after && !isFileId(query.after)) throw new ValidationError(`'after' must be a file id, not '${query.after}'.`, { param: "after" });
      const { files, hasMore } = await deps.files.list({ viewer: principalOf(req), ...query });
      const data = files.map((file) => fileObject(file, deps.env.FILE_RETENTION_DAYS));
      res.json({ object: "list", data, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null, has_more: hasMore });
  });

  router.handle(fileRoutes.get, async ({ params }, req, res) => {
    res.json((await visible(params.fileId, req)).file);
  });

  router.handle(fileRoutes.remove, async ({ params: { fileId } }, req, res) => {
    if (!(await sourceOf(fileId).delete(fileId, principalOf(req)))) throw notFound(fileId);
    res.json({ id: fileId, object: "file", deleted: true });
  });

  router.handle(fileRoutes.content, async ({ params }, req, res) => {
    const { source, file } = await visible(params.fileId, req);
    res.status(200).set({ "Content-Type": "application/octet-stream", "Content-Length": String(file.bytes) });
    try {
      await pipeline(Readable.from(source.content(file.id), { objectMode: false }), res);
    } catch (error) {
      // The client went away mid-download: nothing to answer, nothing to log as a failure.
      if ((error as { code?: unknown }).code === "ERR_STREAM_PREMATURE_CLOSE" && res.destroyed) return;
      throw error;
    }
  });

  return router;
}
