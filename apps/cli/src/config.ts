import { LlmqClient } from "@llmq/client";
import OpenAI from "openai";
import { z } from "zod";

/** Connection settings: options first, then LLMQ_* environment variables, validated once. */
const configSchema = z.object({
  baseUrl: z
    .url({ protocol: /^https?$/, error: "--base-url / LLMQ_BASE_URL must be an http(s) URL such as http://127.0.0.1:3000" })
    .transform((url) => url.replace(/\/+$/, "").replace(/\/v1$/, "")),
  apiKey: z.string({ error: "no API key: pass --api-key or set LLMQ_API_KEY" }).min(1, "no API key: pass --api-key or set LLMQ_API_KEY"),
});

export type CliConfig = z.infer<typeof configSchema>;

export interface GlobalOptions {
  baseUrl?: string;
  apiKey?: string;
}

export function loadConfig(options: GlobalOptions, env: NodeJS.ProcessEnv): CliConfig {
  return configSchema.parse({
    baseUrl: options.baseUrl ?? env.LLMQ_BASE_URL ?? "http://127.0.0.1:3000",
    apiKey: options.apiKey ?? (env.LLMQ_API_KEY || undefined),
  });
}

/** The official SDK for the OpenAI dialect (files, batches); no retries, so failures surface at once. */
export function openAIClient(config: CliConfig): OpenAI {
  return new OpenAI({ baseURL: `${config.baseUrl}/v1`, apiKey: config.apiKey, maxRetries: 1, timeout: 120_000 });
}

/** The typed client for the task dialect (`/v1/ai/...`), which the openai SDK does not speak. */
export function taskClient(config: CliConfig): LlmqClient {
  return new LlmqClient({ baseUrl: config.baseUrl, apiKey: config.apiKey });
}
