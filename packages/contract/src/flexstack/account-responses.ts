import { SERVICE_TIERS, TASK_STATUSES } from "@llmq/core";
import { z } from "zod";
import { dataEnvelopeSchema, ownLimitsSchema } from "./responses";

/** Response shapes of accounts and sign-in, as apps/api builds them; the test suite checks every answer against them. */
const signedInUser = z.object({ id: z.string(), name: z.string(), email: z.string().nullable(), is_admin: z.boolean() });

export const tokenGrantSchema = z
  .object({
    access_token: z.string().meta({ description: "JWT (HS256); send as `Authorization: Bearer`. Lives `expires_in` seconds." }),
    token_type: z.literal("Bearer"),
    expires_in: z.number().int(),
    refresh_token: z.string().meta({ description: "Good for one `POST /v1/auth/refresh`; presenting it twice signs the session out." }),
    refresh_expires_in: z.number().int(),
    user: signedInUser,
  })
  .meta({ id: "TokenGrant" });

export const loggedOutSchema = dataEnvelopeSchema("LoggedOut", z.object({ logged_out: z.literal(true) }));

const usageFigures = { tasks: z.number().int(), prompt_tokens: z.number().int(), completion_tokens: z.number().int(), total_tokens: z.number().int() };
/** Limits in force: 0 = unlimited. */
const limitsInForce = z.object({
  rate_limit_per_minute: z.number().int(),
  max_concurrent_tasks: z.number().int(),
  tokens_per_day: z.number().int(),
  max_open_streams: z.number().int(),
  fair_share_weight: z.number().int().min(1).meta({ description: "Weight in each model's fair share between tenants (never 0: every tenant is served)." }),
});
export const meSchema = dataEnvelopeSchema(
  "Me",
  signedInUser.extend({
    created_at: z.string(),
    usage: z.object({
      ...usageFigures,
      by_status: z.record(z.enum(TASK_STATUSES), z.number().int()),
      by_model: z.array(z.object({ model: z.string(), ...usageFigures })),
    }),
    quota: z
      .object({
        limits: z
          .object({ key: limitsInForce.nullable().meta({ description: "The key's limits (null: a session)." }), user: limitsInForce.meta({ description: "The user's, over all its keys and sessions." }) })
          .nullable()
          .meta({ description: "The limits this caller is held to, 0 = unlimited; null for the admin key, which has none." }),
        tokens_today: z
          .object({ key: z.number().int().nullable(), user: z.number().int() })
          .meta({ description: "Tokens counted today (UTC) against the key and the user: completed tasks, and batches' reservations until they settle to their real usage." }),
      })
      .meta({ description: "What this caller may use and has used today (docs/accounts.md, Limits)." }),
  }),
);

const ownLimits = ownLimitsSchema.meta({ description: "The user's own limits; null: the sum of its live keys' limits (the deployment default without a key), 0: unlimited; fair_share_weight null: 1." });
const adminUser = signedInUser.extend({
  has_password: z.boolean(),
  created_at: z.string(),
  limits: ownLimits,
  effective_limits: limitsInForce.optional().meta({ description: "The limits in force for the user (0: unlimited), in `GET /v1/admin/users` and `PATCH`." }),
});
export const adminUserSchema = dataEnvelopeSchema("AdminUser", adminUser);
export const adminUserListSchema = dataEnvelopeSchema("AdminUserList", z.array(adminUser));
export const deletedUserSchema = dataEnvelopeSchema("DeletedUser", z.object({ id: z.string(), deleted: z.literal(true) }));

const finished = { completed: z.number().int(), failed: z.number().int(), p50_ms: z.number().nullable(), p95_ms: z.number().nullable() };
const tenantWaiting = z.object({
  tenant: z.string().meta({ description: "The run queue's tenant: the API key's id, or `u:<user id>` for work submitted without a key (a session)." }),
  tenant_kind: z.enum(["api_key", "user"]),
  name: z.string().nullable().meta({ description: "The key's name, or the user's email (else name); null when the key or user no longer exists. Never a secret." }),
  key_prefix: z.string().nullable().meta({ description: "The key's prefix (its first characters, useless to authenticate); null for a user." }),
  tier: z.enum(SERVICE_TIERS),
  waiting: z.number().int().meta({ description: "Tasks of this tenant and tier waiting in the run queue (leased ones not counted)." }),
});
export const adminQueuesSchema = dataEnvelopeSchema(
  "AdminQueues",
  z.object({
    queues: z.array(
      z.object({
        model: z.string(),
        queue_name: z.string(),
        paused: z.boolean(),
        counts: z.object({ waiting: z.number().int(), prioritized: z.number().int(), active: z.number().int(), delayed: z.number().int(), completed: z.number().int(), failed: z.number().int() }),
        last_hour: z.object({
          ...finished,
          per_minute: z.array(z.object({ minute: z.string(), ...finished })).meta({ description: "60 one-minute buckets, oldest first; the last is the current minute." }),
        }),
        waiting_by_tenant: z
          .array(tenantWaiting)
          .meta({ description: "Waiting tasks per tenant and service tier, most first (ties by tenant), at most 20 rows: who is queued, as the fair scheduler sees them (docs/scheduling.md)." }),
      }),
    ),
  }),
);
export const queuePausedSchema = dataEnvelopeSchema("QueuePaused", z.object({ model: z.string(), paused: z.boolean() }));
