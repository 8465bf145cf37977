import { ConflictError, NotFoundError } from "@llmq/core";
import { adminUserListSchema, adminUserSchema, createUserSchema, deletedUserSchema, updateUserSchema } from "@llmq/contract";
import { ADMIN_USER_ID, type UserRecord, type UserWithKeyTotals } from "@llmq/db";
import { z } from "zod";
import type { AppDeps } from "../deps";
import { dataEnvelope } from "../flexstack/envelope";
import { type DeclaredRouter, route } from "../http/route";
import { adminErrors, flexstackError, json } from "../openapi/responses";
import { type Limits, limitsRecordView, limitsView, userLimits } from "../services/limits";
import { limitsRecord } from "./limits-record";

const userIdParams = z.object({ userId: z.uuid() });
const operatorProtected = { 409: flexstackError("`admin_user_protected`: the operator's account.") };

/** `/v1/admin/users`. */
export const adminUserRoutes = {
  create: route({
    method: "post",
    path: "/v1/admin/users",
    summary: "Create a user who signs in with email and password (admin)",
    description: "The password is stored as an argon2id hash and never shown. Give the user API keys with `POST /v1/admin/keys {name, user_id}`.",
    request: { body: { content: { "application/json": createUserSchema } } },
    responses: { 201: json("The user.", adminUserSchema), ...adminErrors, 409: flexstackError("`email_taken`.") },
  }),
  list: route({
    method: "get",
    path: "/v1/admin/users",
    summary: "List users (admin)",
    responses: { 200: json("Users, oldest first, with their own and their effective limits.", adminUserListSchema), ...adminErrors },
  }),
  update: route({
    method: "patch",
    path: "/v1/admin/users/{userId}",
    summary: "Change a user (admin): promote or demote, and set its own limits over all its keys and sessions",
    description:
      "`is_admin`: takes effect on the user's next request; a demoted admin's open streams of other owners' tasks end at once, on every API process. The operator's account (the admin key's) cannot be demoted. `limits`: every task counts against its user, and against its key when it came with one: a request must pass both. A user's limit left null is the sum of its live keys' limits (any unlimited key makes it unlimited; a user without a key gets the deployment default); 0 is unlimited. Applies from the user's next request.",
    request: { params: userIdParams, body: { content: { "application/json": updateUserSchema } } },
    responses: { 200: json("The user, with its own and its effective limits.", adminUserSchema), ...adminErrors, ...operatorProtected },
  }),
  remove: route({
    method: "delete",
    path: "/v1/admin/users/{userId}",
    summary: "Delete a user with their keys, sessions, tasks, batches, files and webhook deliveries (admin)",
    description:
      "Their keys and access tokens are refused from the next request, and their open streams end at once on every API process. The operator's account (the admin key's) cannot be deleted.",
    request: { params: userIdParams },
    responses: { 200: json("Deleted.", deletedUserSchema), ...adminErrors, ...operatorProtected },
  }),
};

export type AdminUsersDeps = Pick<AppDeps, "auth" | "users" | "limitDefaults" | "streamGuard">;

/** The operator's account owns what the admin key submits: it is neither deleted nor demoted. */
function refuseOperatorAccount(userId: string, what: string): void {
  if (userId === ADMIN_USER_ID) throw new ConflictError(`The operator's account (the admin key's) cannot be ${what}.`, { param: "user_id", code: "admin_user_protected" });
}

const noSuchUser = (userId: string) => new NotFoundError(`No user with id '${userId}'.`, { param: "user_id", code: "user_not_found" });

/** An account as the admin sees it: never its password hash; its own limits, and the limits in force when it has its key totals. */
function adminUserView(user: UserRecord | UserWithKeyTotals, defaults: Limits) {
  return {
    id: user.id,
    name: user.name,
    email: user.email,
    is_admin: user.isAdmin,
    has_password: user.passwordHash !== null,
    created_at: user.createdAt.toISOString(),
    limits: limitsRecordView(user),
    ...("keyTotals" in user ? { effective_limits: limitsView(userLimits(user, user.keyTotals, defaults)) } : {}),
  };
}

/** `/v1/admin/users`: accounts that sign in with email and password, their role and their limits (mounted behind requireAdmin). */
export function bindAdminUsers(router: DeclaredRouter, deps: AdminUsersDeps): void {
  router.handle(adminUserRoutes.create, async ({ body }, req, res) => {
    const user = await deps.auth.createAccount({ email: body.email, name: body.name, password: body.password, isAdmin: body.is_admin });
    if (!user) throw new ConflictError(`A user with email '${body.email}' exists already.`, { param: "email", code: "email_taken" });
    res.status(201).json(dataEnvelope(adminUserView(user, deps.limitDefaults), req, res.locals.startedAt!));
  });

  router.handle(adminUserRoutes.list, async (_input, req, res) => {
    const users = await deps.users.list();
    res.json(dataEnvelope(users.map((user) => adminUserView(user, deps.limitDefaults)), req, res.locals.startedAt!));
  });

  router.handle(adminUserRoutes.update, async ({ params: { userId }, body }, req, res) => {
    if (body.is_admin === false) refuseOperatorAccount(userId, "demoted");
    if (body.limits && !(await deps.users.setLimits(userId, limitsRecord(body.limits)))) throw noSuchUser(userId);
    if (body.is_admin !== undefined && !(await deps.users.setAdmin(userId, body.is_admin))) throw noSuchUser(userId);
    // Requests read the flag afresh; open streams that needed it end here and on every other process.
    if (body.is_admin === false) await deps.streamGuard.announce({ type: "user_demoted", userId });
    else if (body.is_admin === true || body.limits) await deps.streamGuard.announce({ type: "user_changed", userId });
    const user = await deps.users.findWithKeyTotals(userId);
    if (!user) throw noSuchUser(userId);
    res.json(dataEnvelope(adminUserView(user, deps.limitDefaults), req, res.locals.startedAt!));
  });

  router.handle(adminUserRoutes.remove, async ({ params: { userId } }, req, res) => {
    refuseOperatorAccount(userId, "deleted");
    if (!(await deps.users.delete(userId))) throw noSuchUser(userId);
    await deps.streamGuard.announce({ type: "user_deleted", userId });
    res.json(dataEnvelope({ id: userId, deleted: true }, req, res.locals.startedAt!));
  });
}
