import { z } from "zod";
import { dataEnvelopeSchema } from "./responses";

/** Response shape of `GET /v1/admin/upstreams` (issue 16): each model's upstreams as the run queue sees them. */

const epochMs = (description: string) => z.number().int().nullable().meta({ description });
const budget = (what: string) =>
  z.object({
    used: z.number().int().meta({ description: `${what} in the sliding 60 s window ending now.` }),
    limit: z.number().int().nullable().meta({ description: "The upstream's limit per minute (null: none)." }),
  });

export const upstreamStatusSchema = z
  .object({
    name: z.string().meta({ description: "The upstream's name in its model (the provider's unless the models file names it)." }),
    provider: z.string().meta({ description: "The provider (models file `providers`) it sends to." }),
    upstream_model: z.string().meta({ description: "The model name the upstream is asked for." }),
    weight: z.number().int().meta({ description: "Its share of the load under saturation." }),
    state: z.enum(["ok", "paused", "open", "half_open"]).meta({
      description:
        "`paused`: a 429 or insufficient_quota stopped it for everyone until `paused_until`; `open`: its circuit breaker took it out until `cooldown_until`; `half_open`: one probe request may go (or is in flight); `ok`: takes work.",
    }),
    paused_until: epochMs("While paused: when it takes work again (epoch ms)."),
    pause_kind: z.enum(["rate_limited", "quota"]).nullable().meta({ description: "Why it is paused (a 429, or insufficient_quota)." }),
    cooldown_until: epochMs("While open: when it turns half-open (epoch ms)."),
    in_flight: z.number().int().meta({ description: "Requests running on it now, over every worker." }),
    max_concurrency: z.number().int().nullable().meta({ description: "Its cap on requests in flight (null: none)." }),
    requests_minute: budget("Requests started"),
    tokens_minute: budget("Tokens reserved at dispatch (corrected to real usage when a task ends)"),
    latency_ms: z
      .object({ p50: z.number(), p95: z.number() })
      .nullable()
      .meta({ description: "Over its last 200 successful requests (time to first token, or to the answer); null before any." }),
    errors_5m: z.record(z.string(), z.number().int()).meta({ description: "Errors of the last 5 minutes by kind (`rate_limited`, `quota`, `connection`, `server`, ...)." }),
    last_error: z
      .object({ kind: z.string(), at: z.number().int().meta({ description: "Epoch ms." }) })
      .nullable()
      .meta({ description: "The last error it answered, however old." }),
  })
  .meta({ id: "UpstreamStatus" });

export const adminUpstreamsSchema = dataEnvelopeSchema(
  "AdminUpstreams",
  z.object({
    models: z.array(
      z.object({
        model: z.string(),
        queue_name: z.string(),
        fallbacks: z.array(z.string()).meta({ description: "Models tried, in order, when every upstream of this one is unavailable." }),
        upstreams: z.array(upstreamStatusSchema),
      }),
    ),
  }),
);
