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
  /**
   * A task nobody reads piece by piece (an OpenAI request waited for whole, a batch line) is asked of the
   * upstream whole (`stream: false`), as its caller asked; true streams every request from this upstream
   * (an upstream that only streams, or to keep idle_timeout_ms's stall detection for those tasks too).
   */
  stream_always: z.boolean().optional(),
  /** Longest wait for a whole (non-streamed) answer, from sending the request to its last byte (default 600,000). */
  whole_timeout_ms: z.number().int().positive().optional(),
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

/** Circuit breaker of one upstream: open after `failures` failures within `window_ms`, half-open (one probe) after `cooldown_ms`. */
const circuitSchema = z.strictObject({
  failures: z.number().int().min(1).max(1000),
  window_ms: z.number().int().min(100).max(3_600_000),
  cooldown_ms: z.number().int().min(100).max(3_600_000),
});

/** Default pause of an upstream that answered `insufficient_quota`. */
const DEFAULT_QUOTA_PAUSE_MS = 60_000;

/** Most upstreams one model may list (each is a slot in every dispatch's choice). */
const MAX_UPSTREAMS_PER_MODEL = 16;

/** What names an upstream in Redis keys, metrics and the admin API (the run queue refuses anything else). */
const UPSTREAM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const upstreamSchema = z.strictObject({
  provider: z.string().min(1),
  /** Names the upstream in metrics and the admin API; default the provider's name (unique per model). */
  name: z
    .string()
    .max(64)
    .regex(UPSTREAM_NAME, "upstream names use letters, digits and . _ - (at most 64)")
    .optional(),
  upstream_model: z.string().min(1).optional(),
  /** Share of the work when several upstreams have room (weighted least load). */
  weight: z.number().int().min(1).max(1000).default(1),
  /** Requests in flight on this upstream at once, over every worker; unset: no bound of its own. */
  max_concurrency: z.number().int().min(1).max(100_000).optional(),
  requests_per_minute: z.number().int().min(1).max(100_000_000).optional(),
  /** Prompt + completion tokens per sliding minute (reserved at dispatch, settled with the real usage). */
  tokens_per_minute: z.number().int().min(1).max(1_000_000_000).optional(),
  circuit: circuitSchema.optional(),
  /** How long an `insufficient_quota` answer pauses the upstream. */
  quota_pause_ms: z.number().int().min(1_000).max(86_400_000).optional(),
});

const modelSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]*$/, "model ids use letters, digits and . _ : / -"),
  /** One upstream (the short form); `upstreams` lists several. Exactly one of the two. */
  provider: z.string().min(1).optional(),
  upstream_model: z.string().min(1).optional(),
  upstreams: z
    .array(upstreamSchema)
    .min(1, "at least one upstream is needed")
    .max(MAX_UPSTREAMS_PER_MODEL, `at most ${MAX_UPSTREAMS_PER_MODEL} upstreams per model`)
    .optional(),
  /** Models tried in order when every upstream of this one is down or a task would expire waiting (depth 1). */
  fallbacks: z.array(z.string().min(1)).max(MAX_UPSTREAMS_PER_MODEL).default([]),
  concurrency: z.number().int().min(1).max(1000).default(4),
  queue: z.string().regex(/^[A-Za-z0-9_:-]+$/).optional(),
  max_tokens: z.number().int().min(1).max(MAX_TOKENS_LIMIT).default(MAX_TOKENS_LIMIT),
  /** Interactive tasks waiting in this model's queue beyond which submissions answer 503 (batch items wait in their own lane). */
  max_queue_depth: z.number().int().min(1).max(10_000_000).default(10_000),
  description: z.string().optional(),
});

const DAY_MS = 86_400_000;

/** How a waiting task's tier turns into its place inside its tenant's line (docs/scheduling.md). */
const schedulingSchema = z
  .strictObject({
    aging: z
      .strictObject({
        /** A `default` task goes after `priority` tasks submitted up to this long after it. */
        default_ms: z.number().int().min(0).max(DAY_MS).default(60_000),
        /** A `flex` task goes after `priority` tasks submitted up to this long after it. */
        flex_ms: z.number().int().min(0).max(DAY_MS).default(600_000),
      })
      .refine((aging) => aging.flex_ms >= aging.default_ms, { message: "flex_ms must be at least default_ms (flex never goes before default)", path: ["flex_ms"] })
      .prefault({}),
    /**
     * An attempt whose upstreams are all paused (429, quota) or open waits inside the attempt when one
     * comes back within this long (and before the task's run deadline); a longer wait hands the task back
     * to its queue, in its place, no try spent.
     */
    pause_hold_max_ms: z.number().int().min(0).max(600_000).default(5_000),
  })
  .prefault({});

const modelsFileSchema = z.strictObject({
  providers: z.record(z.string(), providerSchema).default({}),
  scheduling: schedulingSchema,
  models: z.array(modelSchema).min(1, "at least one model is needed"),
});

export type OpenAIProviderConfig = z.infer<typeof openaiProviderSchema> & { name: string; apiKey: string | null };
export type SimulatedProviderConfig = z.infer<typeof simulatedProviderSchema> & { name: string };
export type ProviderConfig = OpenAIProviderConfig | SimulatedProviderConfig;

/** A circuit breaker's settings (see the models file's `circuit`). */
export interface CircuitConfig {
  failures: number;
  windowMs: number;
  cooldownMs: number;
}

/** One upstream of a model: a provider, the model name it is asked for, and its capacity (null: no bound of its own). */
export interface ResolvedUpstream {
  /** Unique within the model; the provider's name unless the file names it. */
  name: string;
  provider: ProviderConfig;
  upstreamModel: string;
  weight: number;
  maxConcurrency: number | null;
  requestsPerMinute: number | null;
  tokensPerMinute: number | null;
  /** null: no circuit breaker. */
  circuit: CircuitConfig | null;
  quotaPauseMs: number;
}

export interface ModelConfig {
  id: string;
  /** The first upstream's provider (a model with `provider` alone has just that upstream). */
  provider: ProviderConfig;
  /** The first upstream's model name. */
  upstreamModel: string;
  /** Every upstream, in the file's order (at least one). */
  upstreams: ResolvedUpstream[];
  /** Model ids tried in order when this model cannot serve a task (their own fallbacks are not followed). */
  fallbacks: string[];
  concurrency: number;
  queueName: string;
  /** Flexstack's task_type, e.g. LLM-GEMMA-7B. */
  taskType: string;
  maxTokens: number;
  maxQueueDepth: number;
  description: string | null;
}

/** The models file's `scheduling` section. */
export interface SchedulingConfig {
  aging: { defaultMs: number; flexMs: number };
  /** The longest an attempt waits inside itself for a paused or open upstream to come back (models file `scheduling.pause_hold_max_ms`). */
  pauseHoldMaxMs: number;
}

export interface ModelsConfig {
  models: ModelConfig[];
  byId: ReadonlyMap<string, ModelConfig>;
  scheduling: SchedulingConfig;
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
  if (!parsed.success) invalid(formatZodError(parsed.error));
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
  file.models.forEach((model, index) => {
    const at = `models.${index}`;
    if (byId.has(model.id)) invalid(`${at}.id: model '${model.id}' is listed twice`);
    const queueName = model.queue ?? defaultQueueName(model.id);
    const clash = queues.get(queueName);
    if (clash) invalid(`${at}.queue: models '${clash}' and '${model.id}' share queue '${queueName}'`);
    queues.set(queueName, model.id);
    const upstreams = resolveUpstreams(model, at, providers);
    const first = upstreams[0]!;
    const resolved: ModelConfig = {
      id: model.id,
      provider: first.provider,
      upstreamModel: first.upstreamModel,
      upstreams,
      fallbacks: model.fallbacks,
      concurrency: model.concurrency,
      queueName,
      taskType: `LLM-${slug(model.id, "-").toUpperCase()}`,
      maxTokens: model.max_tokens,
      maxQueueDepth: model.max_queue_depth,
      description: model.description ?? null,
    };
    models.push(resolved);
    byId.set(model.id, resolved);
  });
  file.models.forEach((model, index) => checkFallbacks(model, `models.${index}`, byId));
  const { aging, pause_hold_max_ms: pauseHoldMaxMs } = file.scheduling;
  return { models, byId, scheduling: { aging: { defaultMs: aging.default_ms, flexMs: aging.flex_ms }, pauseHoldMaxMs } };
}

function invalid(message: string): never {
  throw new Error(`invalid models file: ${message}`);
}

type ModelEntry = z.infer<typeof modelSchema>;

/** A model's upstreams: `provider` alone is one upstream; `upstreams` lists them (names unique in the model). */
function resolveUpstreams(model: ModelEntry, at: string, providers: ReadonlyMap<string, ProviderConfig>): ResolvedUpstream[] {
  if ((model.provider === undefined) === (model.upstreams === undefined)) {
    invalid(`${at}: give either \`provider\` or \`upstreams\`, not both${model.provider === undefined ? " (model '" + model.id + "' has neither)" : ""}`);
  }
  if (model.upstreams && model.upstream_model !== undefined) {
    invalid(`${at}.upstream_model: with \`upstreams\`, set upstream_model on each upstream`);
  }
  const entries = model.upstreams ?? [{ provider: model.provider!, upstream_model: model.upstream_model, weight: 1 }];
  const names = new Set<string>();
  return entries.map((entry, index) => {
    const where = model.upstreams ? `${at}.upstreams.${index}` : at;
    const provider = providers.get(entry.provider);
    if (!provider) invalid(`${where}.provider: model '${model.id}' uses unknown provider '${entry.provider}' (known: ${[...providers.keys()].join(", ")})`);
    const name = ("name" in entry ? entry.name : undefined) ?? entry.provider;
    if (!UPSTREAM_NAME.test(name)) {
      invalid(`${where}: provider '${entry.provider}' cannot name an upstream (letters, digits and . _ - only, at most 64): give the upstream a \`name\`${model.upstreams ? "" : " (list it under `upstreams`)"}`);
    }
    if (names.has(name)) invalid(`${where}.name: upstream name '${name}' is used twice in model '${model.id}' (give each upstream of one provider its own name)`);
    names.add(name);
    const full = entry as z.infer<typeof upstreamSchema>;
    return {
      name,
      provider,
      upstreamModel: full.upstream_model ?? model.id,
      weight: full.weight,
      maxConcurrency: full.max_concurrency ?? null,
      requestsPerMinute: full.requests_per_minute ?? null,
      tokensPerMinute: full.tokens_per_minute ?? null,
      circuit: full.circuit ? { failures: full.circuit.failures, windowMs: full.circuit.window_ms, cooldownMs: full.circuit.cooldown_ms } : null,
      quotaPauseMs: full.quota_pause_ms ?? DEFAULT_QUOTA_PAUSE_MS,
    };
  });
}

/** Fallbacks name known models, never the model itself, each once (a fallback's own fallbacks are not followed). */
function checkFallbacks(model: ModelEntry, at: string, byId: ReadonlyMap<string, ModelConfig>): void {
  const seen = new Set<string>();
  model.fallbacks.forEach((fallback, index) => {
    const where = `${at}.fallbacks.${index}`;
    if (fallback === model.id) invalid(`${where}: model '${model.id}' cannot fall back to itself`);
    if (!byId.has(fallback)) invalid(`${where}: model '${model.id}' falls back to unknown model '${fallback}' (known: ${[...byId.keys()].join(", ")})`);
    if (seen.has(fallback)) invalid(`${where}: model '${model.id}' lists fallback '${fallback}' twice`);
    seen.add(fallback);
  });
}
