import { ValidationError, formatZodError, zodIssuePath } from "@llmq/core";
import type { z } from "zod";

/** Parses `input` with `schema`; a failure becomes a 400 naming the first bad field. */
export function validate<S extends z.ZodType>(schema: S, input: unknown, root?: string): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const first = result.error.issues[0];
  const path = first ? zodIssuePath(first) : "";
  const param = [root, path].filter(Boolean).join(".") || null;
  const message = formatZodError(result.error);
  throw new ValidationError(root ? `${root}: ${message}` : message, { param, code: "invalid_request" });
}
