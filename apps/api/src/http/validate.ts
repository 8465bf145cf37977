import { ValidationError, formatZodError, nulCharacterPath, zodIssuePath } from "@llmq/core";
import type { z } from "zod";

/** The field an issue is about; an unknown key is named itself rather than the object holding it. */
function issueField(issue: z.core.$ZodIssue): string {
  const path = zodIssuePath(issue);
  const unknownKey = issue.code === "unrecognized_keys" ? issue.keys[0] : undefined;
  return [path, unknownKey].filter(Boolean).join(".");
}

/**
 * Parses `input` with `schema`; a failure becomes a 400 naming the first bad field as `param`
 * (a query parameter by its own name; `root`, else "body", when the whole input is wrong).
 */
export function validate<S extends z.ZodType>(schema: S, input: unknown, root?: string): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) {
    // Checked here, at the edge, rather than failing as a database error after half the work is done.
    const nul = nulCharacterPath(result.data);
    if (nul) {
      const param = nul.join(".") || root || "body";
      throw new ValidationError(`${root ? `${root}: ` : ""}${param} contains a NUL character (\\u0000), which is not allowed.`, { param, code: "invalid_request" });
    }
    return result.data;
  }
  const first = result.error.issues[0];
  const path = first ? issueField(first) : "";
  const param = path || root || "body";
  const message = formatZodError(result.error);
  throw new ValidationError(root ? `${root}: ${message}` : message, { param, code: "invalid_request" });
}
