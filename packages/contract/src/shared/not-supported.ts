import { z } from "zod";

/** The 400 of a field we cannot honour yet, with what to send instead (never zod's "expected false"). */
function notSupportedYet(off: string): string {
  return `not supported yet (leave it out, or send ${off})`;
}

/** `logprobs` and the like: only `false` passes (it asks for nothing); anything else is "not supported yet". */
export const offOnlyFlag = () => z.literal(false, { error: notSupportedYet("false") });

/** A field whose only accepted value is `null` (OpenAI's legacy integer `logprobs`, `top_logprobs`). */
export const nullOnly = () => z.null({ error: notSupportedYet("null") });
