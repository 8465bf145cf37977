import { ModelNotFoundError, type ModelsConfig, type PreparedTask, ValidationError, prepareTask } from "@llmq/core";
import type { z } from "zod";
import { assertNoNulCharacters, validationErrorOf } from "../http/validate";
import { type CreateNativeBatch, flexstackTaskInput, nativeBatchItemSchema, nativeBatchShellSchema } from "@llmq/contract";

/** One request of a native batch, checked against its model: what becomes a task row. */
export interface NativeBatchItem {
  task: PreparedTask;
  customId: string;
}

/** A `POST /v1/ai/batches` body, every request checked and prepared. */
export interface NativeBatchRequest extends Omit<CreateNativeBatch, "requests"> {
  items: NativeBatchItem[];
}

/**
 * Reads a `POST /v1/ai/batches` body: JSON, then the envelope with the request count bounded before any
 * request is looked at, then each request on its own through the task dialect's schema, the NUL check and
 * prepareTask. Stops at the first bad request (one bad request refuses the batch, so the rest cannot
 * change the answer) and throws its ValidationError, fields named `requests.<i>.<field>`. Pure CPU work:
 * the API runs it off its event loop (batch-parser.ts).
 */
export function parseNativeBatch(text: string, models: ModelsConfig): NativeBatchRequest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ValidationError("Request body is not valid JSON.", { param: "body", code: "invalid_json" });
  }
  const envelope = nativeBatchShellSchema.safeParse(raw ?? {});
  if (!envelope.success) throw validationErrorOf(envelope.error);
  const { requests, ...batch } = envelope.data;
  assertNoNulCharacters(batch);
  const seen = new Set<string>();
  const items = requests.map((request, index) => {
    const prefix = ["requests", index];
    const item = parseItem(request, prefix);
    const at = `requests.${index}`;
    const customId = item.custom_id ?? String(index);
    if (seen.has(customId)) throw new ValidationError(`${at}.custom_id: '${customId}' is used twice`, { param: `${at}.custom_id`, code: "duplicate_custom_id" });
    seen.add(customId);
    return { task: prepareItem(models, item, at), customId };
  });
  return { ...batch, items };
}

function parseItem(request: unknown, prefix: (string | number)[]): z.infer<typeof nativeBatchItemSchema> {
  const item = nativeBatchItemSchema.safeParse(request);
  if (!item.success) throw validationErrorOf(item.error, { prefix });
  assertNoNulCharacters(item.data, { prefix });
  return item.data;
}

/** prepareTask with the item's field names; an unknown model is 404 on a single call, one bad item here. */
function prepareItem(models: ModelsConfig, item: z.infer<typeof nativeBatchItemSchema>, at: string): PreparedTask {
  try {
    return prepareTask(models, flexstackTaskInput(item, at));
  } catch (error) {
    if (error instanceof ModelNotFoundError) throw new ValidationError(error.message, { param: error.param, code: error.code });
    throw error;
  }
}
