import { ConflictError, NotFoundError } from "@llmq/core";
import { ADMIN_USER_ID, type UserRecord, type UserWithKeyTotals } from "@llmq/db";
import { Router } from "express";
import { z } from "zod";
import { passwordSchema } from "../auth/schemas";
import type { AppDeps } from "../deps";
import { dataEnvelope } from "../flexstack/envelope";
import { validate } from "../http/validate";
import { type Limits, limitsRecordView, limitsView, userLimits } from "../services/limits";
import { limitsRecord, limitsSchema } from "./limits-schema";

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
  limits: limitsSchema("the sum of the user's live keys' limits (the deployment default without a key)").optional(),
});

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
export function adminUsersRouter(deps: AppDeps): Router {
  const router = Router();

  router.post("/users", async (req, res) => {
    const body = validate(createUserSchema, req.body ?? {});
    const user = await deps.auth.createAccount({ email: body.email, name: body.name, password: body.password, isAdmin: body.is_admin });
    if (!user) throw new ConflictError(`A user with email '${body.email}' exists already.`, { param: "email", code: "email_taken" });
    res.status(201).json(dataEnvelope(adminUserView(user, deps.limitDefaults), req, res.locals.startedAt!));
  });

  router.get("/users", async (req, res) => {
    const users = await deps.users.list();
    res.json(dataEnvelope(users.map((user) => adminUserView(user, deps.limitDefaults)), req, res.locals.startedAt!));
  });

  router.patch("/users/:userId", async (req, res) => {
    const userId = validate(z.uuid(), req.params.userId, "user_id");
    const body = validate(updateUserSchema, req.body ?? {});
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

  router.delete("/users/:userId", async (req, res) => {
    const userId = validate(z.uuid(), req.params.userId, "user_id");
    refuseOperatorAccount(userId, "deleted");
    if (!(await deps.users.delete(userId))) throw noSuchUser(userId);
    await deps.streamGuard.announce({ type: "user_deleted", userId });
    res.json(dataEnvelope({ id: userId, deleted: true }, req, res.locals.startedAt!));
  });

  return router;
}
