import { z } from "zod";

/** Purposes `POST /v1/files` accepts: batch input, or any data the caller wants to keep. */
export const FILE_PURPOSES = ["batch", "user_data"] as const;
export const filePurposeSchema = z.enum(FILE_PURPOSES);

/** Query string of `GET /v1/files`. */
export const listFilesQuerySchema = z.strictObject({
  purpose: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(10_000),
  order: z.enum(["asc", "desc"]).default("desc"),
  /** Id of the last file of the previous page. */
  after: z.string().min(1).optional(),
});

/** The multipart form of `POST /v1/files`, for the OpenAPI document (the route reads it as a stream). */
export const uploadFormSchema = z.object({
  file: z.string().meta({ format: "binary", description: "The file's bytes (JSONL for `batch`), with its filename." }),
  purpose: filePurposeSchema,
});
