import type { z } from "zod";

/** Dotted path of the first issue's field, e.g. `configs.max_tokens` or `messages.0.role`. */
export function zodIssuePath(issue: z.core.$ZodIssue): string {
  return issue.path.map(String).join(".");
}

/** One readable line per issue: `configs.max_tokens: Too big: expected number to be <=4096`. */
export function formatZodError(error: z.ZodError): string {
  return error.issues.map((issue) => (issue.path.length ? `${zodIssuePath(issue)}: ${issue.message}` : issue.message)).join("; ");
}
