import { NotFoundError } from "@llmq/core";
import { createKeySchema, createdKeySchema, keyLimitsResponseSchema, keyListSchema, revokedKeySchema, updateKeySchema } from "@llmq/contract";
import type { ApiKeyRecord } from "@llmq/db";
import { z } from "zod";
import type { AppDeps } from "../deps";
import { requireAdmin } from "../http/auth";
import { DeclaredRouter, route } from "../http/route";
import { dataEnvelope } from "../flexstack/envelope";
import { adminErrors, json } from "../openapi/responses";
import { limitsRecordView as limitsView } from "../services/limits";
import { limitsRecord } from "./limits-record";
import { type AdminQueuesDeps, bindAdminQueues } from "./queues-routes";
import { type AdminUpstreamsDeps, bindAdminUpstreams } from "./upstreams-routes";
import { type AdminUsersDeps, bindAdminUsers } from "./users-routes";

const keyIdParams = z.object({ keyId: z.uuid() });

/** `/v1/admin/keys`. */
export const adminKeyRoutes = {
  create: route({
    method: "post",
    path: "/v1/admin/keys",
    summary: "Create an API key (admin)",
    request: { body: { content: { "application/json": createKeySchema } } },
    responses: { 201: json("The key, with its secret shown once.", createdKeySchema), ...adminErrors },
  }),
  list: route({
    method: "get",
    path: "/v1/admin/keys",
    summary: "List API keys (admin)",
    responses: { 200: json("Keys.", keyListSchema), ...adminErrors },
  }),
  update: route({
    method: "patch",
    path: "/v1/admin/keys/{keyId}",
    summary: "Set a key's own limits (admin): submissions per minute, concurrent tasks, tokens per day; and its webhook grant",
    description:
      "`webhooks.allow_private_targets: true` lets this key's webhooks target the private ranges the operator allows with WEBHOOK_ALLOWED_CIDRS (checked at submission and at every delivery attempt); other keys, and sessions of non-admin users, get 400 `webhook_target_refused`.",
    request: { params: keyIdParams, body: { content: { "application/json": updateKeySchema } } },
    responses: { 200: json("The key and its limits.", keyLimitsResponseSchema), ...adminErrors },
  }),
  revoke: route({
    method: "delete",
    path: "/v1/admin/keys/{keyId}",
    summary: "Revoke an API key (admin)",
    request: { params: keyIdParams },
    responses: { 200: json("Revoked.", revokedKeySchema), ...adminErrors },
  }),
};

/** What the admin routes use. */
export type AdminDeps = Pick<AppDeps, "apiKeys" | "users" | "streamGuard"> & AdminUsersDeps & AdminQueuesDeps & AdminUpstreamsDeps;

function webhooksView(key: Pick<ApiKeyRecord, "webhookPrivateTargets">) {
  return { allow_private_targets: key.webhookPrivateTargets };
}

/** Admin-only routes: keys (`/v1/admin/keys`), accounts (`/v1/admin/users`), queues (`/v1/admin/queues`), upstreams (`/v1/admin/upstreams`). */
export function adminRouter(deps: AdminDeps): DeclaredRouter {
  const router = new DeclaredRouter("/v1/admin");
  router.router.use(requireAdmin);
  bindAdminUsers(router, deps);
  bindAdminQueues(router, deps);
  bindAdminUpstreams(router, deps);

  router.handle(adminKeyRoutes.create, async ({ body }, req, res) => {
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

  router.handle(adminKeyRoutes.list, async (_input, req, res) => {
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

  router.handle(adminKeyRoutes.update, async ({ params: { keyId }, body }, req, res) => {
    let key = body.limits ? await deps.apiKeys.setLimits(keyId, limitsRecord(body.limits)) : undefined;
    if (body.webhooks && key !== null) key = await deps.apiKeys.setWebhookPrivateTargets(keyId, body.webhooks.allow_private_targets);
    if (!key) throw new NotFoundError(`No key with id '${keyId}'.`, { param: "key_id", code: "key_not_found" });
    await deps.streamGuard.announce({ type: "key_changed", keyId });
    res.json(dataEnvelope({ id: key.id, name: key.name, prefix: key.prefix, user_id: key.userId, limits: limitsView(key), webhooks: webhooksView(key) }, req, res.locals.startedAt!));
  });

  router.handle(adminKeyRoutes.revoke, async ({ params: { keyId } }, req, res) => {
    if (!(await deps.apiKeys.revoke(keyId))) throw new NotFoundError(`No key with id '${keyId}'.`, { param: "key_id", code: "key_not_found" });
    // Its next request is refused by the lookup; its open streams end here and on every other process.
    await deps.streamGuard.announce({ type: "key_revoked", keyId });
    res.json(dataEnvelope({ id: keyId, revoked: true }, req, res.locals.startedAt!));
  });

  return router;
}
