import { z } from "zod";

/** How clients spell a boolean in a query string (Python `requests` sends `True`/`False`); any case. */
export const QUERY_TRUE_SPELLINGS = ["true", "1", "yes", "on"] as const;
export const QUERY_FALSE_SPELLINGS = ["false", "0", "no", "off"] as const;

const TRUE = new Set<string>(QUERY_TRUE_SPELLINGS);
const SPELLINGS = new Set<string>([...QUERY_TRUE_SPELLINGS, ...QUERY_FALSE_SPELLINGS, ""]);

/** The words of the 400 for anything else (the caller's value is not echoed). */
export const QUERY_BOOLEAN_MESSAGE = "must be a boolean: true or false (also True/False, 1/0, yes/no, on/off, in any case)";

/**
 * A boolean query parameter, the one schema every dialect uses for one: `true`/`false`, `1`/`0`,
 * `yes`/`no`, `on`/`off`, in any case; absent or empty is false. Anything else (a repeated parameter
 * included) fails with QUERY_BOOLEAN_MESSAGE, named after the parameter by the route layer.
 */
export const queryBooleanSchema = z
  .string({ error: QUERY_BOOLEAN_MESSAGE })
  .refine((value) => SPELLINGS.has(value.toLowerCase()), { error: QUERY_BOOLEAN_MESSAGE })
  .optional()
  .transform((value) => value !== undefined && TRUE.has(value.toLowerCase()))
  .meta({
    description: `A boolean: ${[...QUERY_TRUE_SPELLINGS].join(", ")} (true) or ${[...QUERY_FALSE_SPELLINGS].join(", ")} (false), in any case (Python's \`True\`/\`False\` included); absent or empty: false.`,
    examples: ["true", "True", "false"],
  });
