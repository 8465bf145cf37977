import { z } from "zod";
import type { GenerationParams } from "./generation";

/** Configs as stored on a task row, whichever dialect created it; workers read them back with this. */
export const storedConfigsSchema = z.object({
  model: z.string(),
  max_tokens: z.number().int().min(1),
  /** True when the caller set no limit and `max_tokens` is the model's cap: upstreams then choose their own. */
  max_tokens_is_cap: z.boolean().optional(),
  temperature: z.number().optional(),
  top_p: z.number().optional(),
  top_k: z.number().int().optional(),
  stop: z.array(z.string()).optional(),
  seed: z.number().int().optional(),
  /** Choices to generate per input (OpenAI's `n`). */
  n: z.number().int().min(1).default(1),
  /** Legacy completions: one input per prompt, sent to the upstream's `/completions`. */
  prompts: z.array(z.string()).optional(),
  passthrough: z.record(z.string(), z.unknown()).optional(),
  /** Record each choice's streamed pieces (Choice.pieces): Responses API tasks, whose event streams are replayable. */
  keep_pieces: z.boolean().optional(),
  /**
   * Nobody reads this task's output piece by piece (an OpenAI-dialect request waited for whole, a batch
   * line): the worker may ask its upstream for the whole answer at once instead of a stream.
   */
  whole_answer: z.boolean().optional(),
  /**
   * Responses API tasks: the request in OpenAI's fields (the contract's StoredResponseRequest), for
   * upstreams that speak that API themselves; its reader checks the fields it uses.
   */
  responses: z.unknown().optional(),
});
export type StoredConfigs = z.infer<typeof storedConfigsSchema>;

/** The provider-facing sampling settings of a stored task. */
export function toGenerationParams(configs: Omit<StoredConfigs, "model" | "n" | "prompts" | "max_tokens_is_cap"> & { max_tokens_is_cap?: boolean }): GenerationParams {
  return {
    maxTokens: configs.max_tokens,
    maxTokensIsCap: configs.max_tokens_is_cap,
    temperature: configs.temperature,
    topP: configs.top_p,
    topK: configs.top_k,
    stop: configs.stop,
    seed: configs.seed,
    passthrough: configs.passthrough,
  };
}
