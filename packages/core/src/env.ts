import type { z } from "zod";
import { formatZodError } from "./zod-format";

/** Parses an app's environment once at start-up; throws one readable message naming every bad variable. */
export function parseEnv<S extends z.ZodType>(schema: S, env: Readonly<Record<string, string | undefined>>): z.infer<S> {
  const result = schema.safeParse(env);
  if (!result.success) throw new Error(`invalid configuration: ${formatZodError(result.error)}`);
  return result.data;
}
