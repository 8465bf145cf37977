import { z } from "zod";

/** Files API response shapes, as apps/api builds them (built by files/format.ts and files/routes.ts); the test suite checks every answer against them. */
export const fileObjectSchema = z
  .object({
    id: z.string().meta({ example: "file-019a8f3c2b1d4e5f6a7b8c9d0e1f2a3b" }),
    object: z.literal("file"),
    bytes: z.number().int(),
    created_at: z.number().int().meta({ description: "Unix seconds." }),
    filename: z.string(),
    purpose: z.string().meta({ example: "batch" }),
    status: z.literal("processed"),
    status_details: z.null(),
    expires_at: z
      .number()
      .int()
      .nullable()
      .meta({
        description:
          "Unix seconds from which the file is deleted: FILE_RETENTION_DAYS after its upload (a file an open batch reads is kept until the batch ends); null: kept until deleted. A batch's output and error files go with their batch's tasks: TASK_RETENTION_DAYS after the batch ended (null with 0).",
      }),
  })
  .meta({ id: "OpenAIFile" });

export const fileListSchema = z
  .object({
    object: z.literal("list"),
    data: z.array(fileObjectSchema),
    first_id: z.string().nullable(),
    last_id: z.string().nullable(),
    has_more: z.boolean(),
  })
  .meta({ id: "OpenAIFileList" });

export const deletedFileSchema = z.object({ id: z.string(), object: z.literal("file"), deleted: z.literal(true) }).meta({ id: "OpenAIFileDeleted" });
