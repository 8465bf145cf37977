import type { z } from "zod";

/** Issues named in one error message; the rest are counted, never listed (a hostile body can hold millions). */
export const MAX_LISTED_ISSUES = 5;
/** Longest issue message and path segment kept: both may echo a caller's keys or values. */
const MAX_ISSUE_CHARS = 200;
const MAX_SEGMENT_CHARS = 64;

/** `text` cut to `max` characters, marked with an ellipsis when cut. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** A field's dotted path, e.g. `configs.max_tokens` or `messages.0.role`; keys a caller made long are cut. */
export function formatPath(segments: readonly PropertyKey[]): string {
  return segments.map((segment) => truncate(String(segment), MAX_SEGMENT_CHARS)).join(".");
}

/** Dotted path of an issue's field (see formatPath). */
export function zodIssuePath(issue: z.core.$ZodIssue): string {
  return formatPath(issue.path);
}

function describe(issue: z.core.$ZodIssue, prefix: readonly PropertyKey[]): string {
  const message = truncate(issue.message, MAX_ISSUE_CHARS);
  const path = [...prefix, ...issue.path];
  return path.length ? `${formatPath(path)}: ${message}` : message;
}

/**
 * A bounded, readable account of a zod failure: at most MAX_LISTED_ISSUES issues, each cut short, then
 * how many more there were — `configs.max_tokens: Too big: expected number to be <=4096; … (and 2,043
 * more problems)`. Its size does not grow with the input. `prefix` places the paths inside a larger
 * document (e.g. `requests.3` of a batch).
 */
export function formatZodError(error: z.ZodError, options: { prefix?: readonly PropertyKey[] } = {}): string {
  const { issues } = error;
  const listed = issues
    .slice(0, MAX_LISTED_ISSUES)
    .map((issue) => describe(issue, options.prefix ?? []))
    .join("; ");
  const rest = issues.length - MAX_LISTED_ISSUES;
  return rest > 0 ? `${listed} (and ${rest.toLocaleString("en")} more problem${rest === 1 ? "" : "s"})` : listed;
}
