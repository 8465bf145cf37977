import { z } from "zod";
import { formatZodError } from "@llmq/core";

/** Parses an app's environment once at start-up; throws one readable message naming every bad variable. */
export function parseEnv<S extends z.ZodType>(schema: S, env: Readonly<Record<string, string | undefined>>): z.infer<S> {
  const result = schema.safeParse(env);
  if (!result.success) throw new Error(`invalid configuration: ${formatZodError(result.error)}`);
  return result.data;
}

const BYTE_UNITS: Record<string, number> = { "": 1, b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** A size written as Express's body parser reads it (`1mb`, `512kb`, `1048576`), as a number of bytes. */
export const byteSizeSchema = z
  .string()
  .trim()
  .regex(/^\d+(\.\d+)?\s*(b|kb|mb|gb)?$/i, "a size such as 1mb, 512kb or 1048576")
  .transform((value) => {
    const [, amount = "0", unit = ""] = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value) ?? [];
    return Math.floor(Number(amount) * (BYTE_UNITS[unit.toLowerCase()] ?? 1));
  });

/**
 * A retention in whole days: 0 (keep everything) to 36500. Empty is refused rather than read as 0, which
 * would keep everything. TASK_RETENTION_DAYS and FILE_RETENTION_DAYS (the workers delete, the API tells).
 */
export const retentionDaysSchema = z
  .string()
  .trim()
  .regex(/^\d{1,5}$/, "whole days: 0 (keep everything) to 36500")
  .transform(Number)
  .refine((days) => days <= 36_500, "at most 36500 days (a hundred years)");

/** An on/off switch: `1`/`true` on, `0`/`false`/empty/unset off; anything else is refused. */
export const flagSchema = z
  .enum(["1", "true", "0", "false", ""], { error: "1 or true (on), 0 or false (off)" })
  .default("0")
  .transform((value) => value === "1" || value === "true");
