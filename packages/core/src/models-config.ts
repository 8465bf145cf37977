import { z } from "zod";
import { formatZodError } from "./zod-format";

/** Hard cap on generated tokens, whatever a model file says (Flexstack's documented maximum). */
export const MAX_TOKENS_LIMIT = 4096;

const openaiProviderSchema = z.strictObject({
  type: z.literal("openai"),
  base_url: z.url(),
  /** Name of the environment variable holding the key (keeps secrets out of the file). */
  api_key_env: z.string().min(1).optional(),
  api_key: z.string().min(1).optional(),
  timeout_ms: z.number().int().positive().default(120_000),
  /** How long to wait for the next streamed chunk before calling the stream stalled. */
  idle_timeout_ms: z.number().int().positive().optional(),
  headers: z.record(z.string(), z.string()).default({}),
  /**
   * The upstream has OpenAI's Responses API: Responses API tasks are passed through to its
   * `POST {base_url}/responses` instead of being translated to chat completions.
   */
  responses_api: z.boolean().optional(),
});

const simulatedProviderSchema = z.strictObject({
  type: z.literal("simulated"),
  first_token_ms: z.number().int().min(0).default(150),
  tokens_per_second: z.number().positive().default(400),
});

const providerSchema = z.discriminatedUnion("type", [openaiProviderSchema, simulatedProviderSchema]);

const modelSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]*$/, "model ids use letters, digits and . _ : / -"),
  provider: z.string().min(1),
  upstream_model: z.string().min(1).optional(),
  concurrency: z.number().int().min(1).max(1000).default(4),
  queue: z.string().regex(/^[A-Za-z0-9_:-]+$/).optional(),
  max_tokens: z.number().int().min(1).max(MAX_TOKENS_LIMIT).default(MAX_TOKENS_LIMIT),
  /** Interactive tasks waiting in this model's queue beyond which submissions answer 503 (batch items wait in their own lane). */
  max_queue_depth: z.number().int().min(1).max(10_000_000).default(10_000),
  description: z.string().optional(),
});

const modelsFileSchema = z.strictObject({
  providers: z.record(z.string(), providerSchema).default({}),
  models: z.array(modelSchema).min(1, "at least one model is needed"),
});

export type OpenAIProviderConfig = z.infer<typeof openaiProviderSchema> & { name: string; apiKey: string | null };
export type SimulatedProviderConfig = z.infer<typeof simulatedProviderSchema> & { name: string };
export type ProviderConfig = OpenAIProviderConfig | SimulatedProviderConfig;

export interface ModelConfig {
  id: string;
  provider: ProviderConfig;
  upstreamModel: string;
  concurrency: number;
  queueName: string;
  /** Flexstack's task_type, e.g. LLM-GEMMA-7B. */
  taskType: string;
  maxTokens: number;
  maxQueueDepth: number;
  description: string | null;
}

export interface ModelsConfig {
  models: ModelConfig[];
  byId: ReadonlyMap<string, ModelConfig>;
}

/** The queue a model's jobs go to when the file names none: gemma-7b -> llm_gemma_7b_queue. */
export function defaultQueueName(modelId: string): string {
  return `llm_${slug(modelId, "_").toLowerCase()}_queue`;
}

function slug(value: string, separator: string): string {
  return value.replace(/[^A-Za-z0-9]+/g, separator).replace(new RegExp(`^${separator}+|${separator}+$`, "g"), "");
}

const BUILTIN_SIMULATED = "simulated";

/** Validates a parsed models file and resolves provider references and key variables. */
export function resolveModelsConfig(raw: unknown, env: Readonly<Record<string, string | undefined>>): ModelsConfig {
  const parsed = modelsFileSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`invalid models file: ${formatZodError(parsed.error)}`);
  const file = parsed.data;

  const providers = new Map<string, ProviderConfig>();
  providers.set(BUILTIN_SIMULATED, { name: BUILTIN_SIMULATED, ...simulatedProviderSchema.parse({ type: "simulated" }) });
  for (const [name, provider] of Object.entries(file.providers)) {
    if (provider.type === "openai") {
      const apiKey = provider.api_key ?? (provider.api_key_env ? env[provider.api_key_env] : undefined) ?? null;
      providers.set(name, { ...provider, name, apiKey });
    } else {
      providers.set(name, { ...provider, name });
    }
  }

  const models: ModelConfig[] = [];
  const byId = new Map<string, ModelConfig>();
  const queues = new Map<string, string>();
  for (const model of file.models) {
    const provider = providers.get(model.provider);
    if (!provider) {
      throw new Error(`invalid models file: model '${model.id}' uses unknown provider '${model.provider}' (known: ${[...providers.keys()].join(", ")})`);
    }
    if (byId.has(model.id)) throw new Error(`invalid models file: model '${model.id}' is listed twice`);
    const queueName = model.queue ?? defaultQueueName(model.id);
    const clash = queues.get(queueName);
    if (clash) throw new Error(`invalid models file: models '${clash}' and '${model.id}' share queue '${queueName}'`);
    queues.set(queueName, model.id);
    const resolved: ModelConfig = {
      id: model.id,
      provider,
      upstreamModel: model.upstream_model ?? model.id,
      concurrency: model.concurrency,
      queueName,
      taskType: `LLM-${slug(model.id, "-").toUpperCase()}`,
      maxTokens: model.max_tokens,
      maxQueueDepth: model.max_queue_depth,
      description: model.description ?? null,
    };
    models.push(resolved);
    byId.set(model.id, resolved);
  }
  return { models, byId };
}
