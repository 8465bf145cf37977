import { ValidationError, formatPath, formatZodError, nulCharacterPath } from "@llmq/core";
import type { z } from "zod";

/** The field an issue is about; an unknown key is named itself rather than the object holding it. */
function issueField(issue: z.core.$ZodIssue, prefix: readonly PropertyKey[]): string {
  const unknownKey = issue.code === "unrecognized_keys" ? issue.keys[0] : undefined;
  return formatPath(unknownKey === undefined ? [...prefix, ...issue.path] : [...prefix, ...issue.path, unknownKey]);
}

/**
 * Checks already-validated data for NUL characters (Postgres text cannot store them), at the edge rather
 * than as a database error after half the work is done; a 400 naming the field (`root` prefixes it).
 */
export function assertNoNulCharacters(data: unknown, options: { root?: string; prefix?: readonly PropertyKey[] } = {}): void {
  const nul = nulCharacterPath(data);
  if (!nul) return;
  const { root } = options;
  const field = formatPath([...(options.prefix ?? []), ...nul]) || root || "body";
  throw new ValidationError(`${root ? `${root}: ` : ""}${field} contains a NUL character (\\u0000), which is not allowed.`, { param: field, code: "invalid_request" });
}

/**
 * The 400 for a failed parse: `param` names the first bad field (under `prefix`, e.g. `requests.3`), the
 * message lists a few issues and counts the rest, so its size does not grow with the input.
 */
export function validationErrorOf(error: z.ZodError, options: { root?: string; prefix?: readonly PropertyKey[] } = {}): ValidationError {
  const prefix = options.prefix ?? [];
  const first = error.issues[0];
  const param = (first ? issueField(first, prefix) : formatPath(prefix)) || options.root || "body";
  const issues = formatZodError(error, { prefix });
  return new ValidationError(options.root ? `${options.root}: ${issues}` : issues, { param, code: "invalid_request" });
}

/**
 * Parses `input` with `schema`; a failure becomes a 400 naming the first bad field as `param`
 * (a query parameter by its own name; `root`, else "body", when the whole input is wrong).
 */
export function validate<S extends z.ZodType>(schema: S, input: unknown, root?: string): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw validationErrorOf(result.error, { root });
  assertNoNulCharacters(result.data, { root });
  return result.data;
}
