import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { NotFoundError, ValidationError } from "@llmq/core";
import { isFileId } from "@llmq/db";
import { type Request, type Response, Router } from "express";
import type { AppDeps } from "../deps";
import { principalOf } from "../http/principal";
import { perUserRateLimit } from "../http/rate-limit";
import { validate } from "../http/validate";
import { fileObject } from "./format";
import { listFilesQuerySchema } from "@llmq/contract";
import { type FileSource, uploadedFiles } from "./sources";
import { receiveUpload } from "./upload";

export type { FileSource } from "./sources";

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
export function filesRouter(deps: AppDeps, options: FilesRouterOptions = {}): Router {
  const router = Router();
  const uploaded = uploadedFiles(deps.files);
  const sourceOf = (fileId: string) => options.sources?.find((source) => source.owns(fileId)) ?? uploaded;
  const notFound = (fileId: string) => new NotFoundError(`No file with id '${fileId}'.`, { param: "file_id", code: "file_not_found" });

  /** The file and its source, if the caller may see it. */
  async function visible(req: Request<{ fileId: string }>) {
    const { fileId } = req.params;
    const source = sourceOf(fileId);
    const file = await source.find(fileId, principalOf(req));
    if (!file) throw notFound(fileId);
    return { source, file };
  }

  // Per user, whichever key or session uploads: quotas are the user's too.
  const uploadLimit = perUserRateLimit({ redis: deps.redis, keys: deps.keys, perMinute: deps.env.FILES_UPLOADS_PER_MINUTE, name: "files", what: "uploads" });
  const quota = { maxFiles: deps.env.FILES_MAX_PER_USER, maxBytes: deps.env.FILES_MAX_TOTAL_BYTES_PER_USER };

  // "" rather than "/": the route is `/v1/files` itself, as OpenAI writes it.
  router
    .route("")
    .post(uploadLimit, async (req, res) => {
      const ownerId = principalOf(req).userId;
      deps.files.purgeAbandoned(ownerId, new Date(Date.now() - ABANDONED_UPLOAD_MS)).catch((error: unknown) => deps.logger.warn({ err: error }, "could not purge abandoned uploads"));
      const file = await receiveUpload(req, { files: deps.files, ownerId, maxBytes: deps.env.FILES_MAX_BYTES, quota });
      res.json(fileObject(file));
    })
    .get(async (req, res) => {
      const query = validate(listFilesQuerySchema, req.query);
      if (query.after && !isFileId(query.after)) throw new ValidationError(`'after' must be a file id, not '${query.after}'.`, { param: "after" });
      const { files, hasMore } = await deps.files.list({ viewer: principalOf(req), ...query });
      const data = files.map(fileObject);
      res.json({ object: "list", data, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null, has_more: hasMore });
    });

  router.get("/:fileId", async (req, res) => {
    res.json((await visible(req)).file);
  });

  router.delete("/:fileId", async (req, res) => {
    const { fileId } = req.params;
    if (!(await sourceOf(fileId).delete(fileId, principalOf(req)))) throw notFound(fileId);
    res.json({ id: fileId, object: "file", deleted: true });
  });

  router.get("/:fileId/content", async (req, res: Response) => {
    const { source, file } = await visible(req);
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
