import { TASK_STATUSES, isSupportedDate } from "@llmq/core";
import { z } from "zod";
import { queryBooleanSchema } from "../shared/query-boolean";

/** Query string of `POST /v1/ai/text_completion`. */
export const textCompletionQuerySchema = z.object({
  stream: queryBooleanSchema,
  async: queryBooleanSchema,
  /** Seconds to hold the request open waiting for the result. */
  wait: z.coerce.number().min(0).optional(),
});

/** An ISO 8601 date-time with its offset, in years 1 to 9999. */
const dateTimeSchema = z.iso
  .datetime({ offset: true })
  .transform((value) => new Date(value))
  .refine(isSupportedDate, "must be a date-time in years 0001 to 9999");

/** Query string of `GET /v1/ai/tasks` (task history). */
export const historyQuerySchema = z.object({
  status: z.enum(TASK_STATUSES).optional(),
  model: z.string().min(1).optional(),
  /** Only this user's tasks: the admin's filter (anyone else only ever sees their own). */
  user_id: z.uuid().optional(),
  /** Only the tasks of this batch (native or OpenAI). */
  batch_id: z.string().min(1).optional(),
  created_from: dateTimeSchema.optional(),
  created_to: dateTimeSchema.optional(),
  cursor: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/** Query string of `GET /v1/ai/tasks/updates` (the live task list). */
export const taskUpdatesQuerySchema = z.object({
  /** The admin: only this user's tasks. Anyone else only ever gets their own. */
  user_id: z.uuid().optional(),
});
