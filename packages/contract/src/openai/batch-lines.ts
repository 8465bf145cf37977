import { z } from "zod";
import { AppError, type ModelsConfig, type PreparedTask, formatPath, formatZodError, nulCharacterPath, prepareTask, zodIssuePath } from "@llmq/core";
import { chatCompletionRequestSchema, completionRequestSchema } from "./requests";
import { chatTaskInput, completionTaskInput } from "./task-input";

/** Most requests one batch may hold, native or from a file (OpenAI's Batch API limit). */
export const MAX_BATCH_REQUESTS = 50_000;

/** Endpoints a batch may target (OpenAI Batch API). */
export const BATCH_ENDPOINTS = ["/v1/chat/completions", "/v1/completions"] as const;
export type BatchEndpoint = (typeof BATCH_ENDPOINTS)[number];

const batchLineSchema = z.strictObject({
  custom_id: z.string().min(1).max(512),
  method: z.literal("POST"),
  url: z.enum(BATCH_ENDPOINTS),
  body: z.record(z.string(), z.unknown()),
});

/** A problem with one input line, as OpenAI reports it in `errors.data`. */
export interface BatchLineError {
  code: string;
  message: string;
  param: string | null;
  line: number;
}

/** A valid line, ready to become a task. */
export interface BatchLine {
  customId: string;
  task: PreparedTask;
}

/**
 * Checks one line of a batch input file: its JSON, the envelope (custom_id, POST, the batch's url),
 * and the request body with the same schemas and model checks as a direct call.
 */
export function parseBatchLine(text: string, line: number, endpoint: BatchEndpoint, models: ModelsConfig): BatchLine | BatchLineError {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { code: "invalid_json", message: `Line ${line} is not valid JSON.`, param: null, line };
  }
  const envelope = batchLineSchema.safeParse(raw);
  if (!envelope.success) {
    const issue = envelope.error.issues[0];
    return { code: "invalid_request", message: `Line ${line}: ${formatZodError(envelope.error)}`, param: issue ? zodIssuePath(issue) || null : null, line };
  }
  if (envelope.data.url !== endpoint) {
    return { code: "mismatched_url", message: `Line ${line}: url ${envelope.data.url} differs from the batch's endpoint ${endpoint}.`, param: "url", line };
  }
  const schema = endpoint === "/v1/chat/completions" ? chatCompletionRequestSchema : completionRequestSchema;
  const body = schema.safeParse(envelope.data.body);
  if (!body.success) {
    const issue = body.error.issues[0];
    return { code: "invalid_request", message: `Line ${line}: body: ${formatZodError(body.error)}`, param: issue ? `body.${zodIssuePath(issue)}` : "body", line };
  }
  const nul = nulCharacterPath(body.data);
  if (nul) return { code: "invalid_request", message: `Line ${line}: body.${formatPath(nul)} contains a NUL character (\\u0000), which is not allowed.`, param: `body.${formatPath(nul)}`, line };
  if (body.data.stream) return { code: "invalid_request", message: `Line ${line}: a batch request cannot stream.`, param: "body.stream", line };
  try {
    // A batch line's answer is read only once finished: its upstream may answer it whole.
    const input = endpoint === "/v1/chat/completions" ? chatTaskInput(body.data as z.infer<typeof chatCompletionRequestSchema>, { wholeAnswer: true }) : completionTaskInput(body.data as z.infer<typeof completionRequestSchema>);
    return { customId: envelope.data.custom_id, task: prepareTask(models, input) };
  } catch (error) {
    if (error instanceof AppError) return { code: error.code, message: `Line ${line}: ${error.message}`, param: error.param ? `body.${error.param}` : null, line };
    throw error;
  }
}

export function isBatchLineError(value: BatchLine | BatchLineError): value is BatchLineError {
  return "code" in value;
}
