import { z } from "zod";
import { passwordSchema } from "./auth-requests";

const limit = (what: string, inherited: string) => z.number().int().min(0).nullable().optional().meta({ description: `${what}; null: ${inherited}, 0: unlimited.` });

/** Most a tenant's weight may be: with the least (1), the ratio of two tenants' shares stays readable. */
const MAX_FAIR_SHARE_WEIGHT = 1000;

/** `limits` of a key or a user in the admin API; `inherited` says what null means for it, `weightInherited` for its fair_share_weight. */
export function limitsSchema(inherited: string, weightInherited: string) {
  return z.strictObject({
    rate_limit_per_minute: limit("Task and batch submissions per minute", inherited),
    max_concurrent_tasks: limit("Interactive tasks PENDING or RUNNING at once", inherited),
    tokens_per_day: limit("Prompt + completion tokens per UTC day (batches reserve theirs when admitted)", inherited),
    max_open_streams: limit("Open streams (SSE, both dialects) and synchronous requests waiting for their task, at once, over all API processes", inherited),
    fair_share_weight: z
      .number()
      .int()
      .min(1)
      .max(MAX_FAIR_SHARE_WEIGHT)
      .nullable()
      .optional()
      .meta({
        description: `Weight in each model's fair share between tenants (1..${MAX_FAIR_SHARE_WEIGHT}): a tenant of weight 2 is served twice the tokens of a tenant of weight 1 while both wait (docs/scheduling.md); null: ${weightInherited}.`,
      }),
  });
}
export type LimitsInput = z.infer<ReturnType<typeof limitsSchema>>;

export const keyLimitsSchema = limitsSchema("the deployment default", "the user's weight, else 1");

export const keyWebhooksSchema = z.strictObject({
  allow_private_targets: z.boolean().meta({
    description: "Webhooks of this key may target the private ranges the operator allows (WEBHOOK_ALLOWED_CIDRS); default false. Keys of admin accounts may anyway.",
  }),
});

/** Body of `POST /v1/admin/keys`. */
export const createKeySchema = z.strictObject({
  name: z.string().trim().min(1).max(200),
  /** Give the key to an existing user; without it a new user (tenant) is created for the key. */
  user_id: z.uuid().optional(),
  limits: keyLimitsSchema.optional(),
  webhooks: keyWebhooksSchema.optional(),
});

/** Body of `PATCH /v1/admin/keys/{keyId}`. */
export const updateKeySchema = z
  .strictObject({ limits: keyLimitsSchema.optional(), webhooks: keyWebhooksSchema.optional() })
  .refine((body) => body.limits !== undefined || body.webhooks !== undefined, { message: "send limits, webhooks or both", path: ["limits"] });

/** Body of `POST /v1/admin/users`. */
export const createUserSchema = z.strictObject({
  email: z.email().max(320),
  name: z.string().trim().min(1).max(200),
  password: passwordSchema,
  is_admin: z.boolean().default(false),
});

/** `PATCH /v1/admin/users/{id}`: what the admin may change on an account (fields left out stay as they are). */
export const updateUserSchema = z.strictObject({
  is_admin: z.boolean().optional().meta({ description: "Promote (true) or demote (false); a demoted admin's streams of other owners' tasks end at once." }),
  /** The user's own limits over all its keys and sessions; null: the sum of its live keys' limits. */
  limits: limitsSchema("the sum of the user's live keys' limits (the deployment default without a key)", "1 (the user's sessions, and its keys that set none)").optional(),
});
