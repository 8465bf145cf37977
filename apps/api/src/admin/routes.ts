import { NotFoundError } from "@llmq/core";
import type { ApiKeyRecord } from "@llmq/db";
import { Router } from "express";
import { z } from "zod";
import type { AppDeps } from "../deps";
import { requireAdmin } from "../http/auth";
import { validate } from "../http/validate";
import { dataEnvelope } from "../flexstack/envelope";
import { limitsRecordView as limitsView } from "../services/limits";
import { limitsRecord, limitsSchema } from "./limits-schema";
import { adminQueuesRouter } from "./queues-routes";
import { adminUsersRouter } from "./users-routes";

export const keyLimitsSchema = limitsSchema("the deployment default");

export const keyWebhooksSchema = z.strictObject({
  allow_private_targets: z.boolean().meta({
    description: "Webhooks of this key may target the private ranges the operator allows (WEBHOOK_ALLOWED_CIDRS); default false. Keys of admin accounts may anyway.",
  }),
});

export const createKeySchema = z.strictObject({
  name: z.string().trim().min(1).max(200),
  /** Give the key to an existing user; without it a new user (tenant) is created for the key. */
  user_id: z.uuid().optional(),
  limits: keyLimitsSchema.optional(),
  webhooks: keyWebhooksSchema.optional(),
});

export const updateKeySchema = z
  .strictObject({ limits: keyLimitsSchema.optional(), webhooks: keyWebhooksSchema.optional() })
  .refine((body) => body.limits !== undefined || body.webhooks !== undefined, { message: "send limits, webhooks or both", path: ["limits"] });

function webhooksView(key: Pick<ApiKeyRecord, "webhookPrivateTargets">) {
  return { allow_private_targets: key.webhookPrivateTargets };
}

/** Admin-only routes: keys (`/v1/admin/keys`), accounts (`/v1/admin/users`), queues (`/v1/admin/queues`). */
export function adminRouter(deps: AppDeps): Router {
  const router = Router();
  router.use(requireAdmin);
  router.use(adminUsersRouter(deps));
  router.use(adminQueuesRouter(deps));

  router.post("/keys", async (req, res) => {
    const body = validate(createKeySchema, req.body ?? {});
    const user = body.user_id ? await deps.users.findById(body.user_id) : await deps.users.create(body.name);
    if (!user) throw new NotFoundError(`No user with id '${body.user_id}'.`, { param: "user_id", code: "user_not_found" });
    const { key, secret } = await deps.apiKeys.create(user.id, body.name, { ...limitsRecord(body.limits), webhookPrivateTargets: body.webhooks?.allow_private_targets ?? false });
    // The user's key totals (its default limits) changed: resolved keys cached by API processes are stale.
    await deps.streamGuard.announce({ type: "user_changed", userId: user.id });
    res.status(201).json(
      dataEnvelope(
        { id: key.id, name: key.name, key: secret, prefix: key.prefix, user_id: user.id, limits: limitsView(key), webhooks: webhooksView(key), created_at: key.createdAt.toISOString() },
        req,
        res.locals.startedAt!,
      ),
    );
  });

  router.get("/keys", async (req, res) => {
    const keys = await deps.apiKeys.list();
    res.json(
      dataEnvelope(
        keys.map((key) => ({
          id: key.id,
          name: key.name,
          prefix: key.prefix,
          user_id: key.userId,
          user_name: key.user.name,
          limits: limitsView(key),
          webhooks: webhooksView(key),
          created_at: key.createdAt.toISOString(),
          last_used_at: key.lastUsedAt?.toISOString() ?? null,
          revoked_at: key.revokedAt?.toISOString() ?? null,
        })),
        req,
        res.locals.startedAt!,
      ),
    );
  });

  router.patch("/keys/:keyId", async (req, res) => {
    const keyId = validate(z.uuid(), req.params.keyId, "key_id");
    const body = validate(updateKeySchema, req.body ?? {});
    let key = body.limits ? await deps.apiKeys.setLimits(keyId, limitsRecord(body.limits)) : undefined;
    if (body.webhooks && key !== null) key = await deps.apiKeys.setWebhookPrivateTargets(keyId, body.webhooks.allow_private_targets);
    if (!key) throw new NotFoundError(`No key with id '${keyId}'.`, { param: "key_id", code: "key_not_found" });
    await deps.streamGuard.announce({ type: "key_changed", keyId });
    res.json(dataEnvelope({ id: key.id, name: key.name, prefix: key.prefix, user_id: key.userId, limits: limitsView(key), webhooks: webhooksView(key) }, req, res.locals.startedAt!));
  });

  router.delete("/keys/:keyId", async (req, res) => {
    const keyId = validate(z.uuid(), req.params.keyId, "key_id");
    if (!(await deps.apiKeys.revoke(keyId))) throw new NotFoundError(`No key with id '${keyId}'.`, { param: "key_id", code: "key_not_found" });
    // Its next request is refused by the lookup; its open streams end here and on every other process.
    await deps.streamGuard.announce({ type: "key_revoked", keyId });
    res.json(dataEnvelope({ id: keyId, revoked: true }, req, res.locals.startedAt!));
  });

  return router;
}
