import { ConflictError, NotFoundError } from "@llmq/core";
import { ADMIN_USER_ID, type UserRecord } from "@llmq/db";
import { Router } from "express";
import { z } from "zod";
import { passwordSchema } from "../auth/schemas";
import type { AppDeps } from "../deps";
import { dataEnvelope } from "../flexstack/envelope";
import { validate } from "../http/validate";

export const createUserSchema = z.strictObject({
  email: z.email().max(320),
  name: z.string().trim().min(1).max(200),
  password: passwordSchema,
  is_admin: z.boolean().default(false),
});

/** `PATCH /v1/admin/users/{id}`: what the admin may change on an account. */
export const updateUserSchema = z.strictObject({
  is_admin: z.boolean().optional().meta({ description: "Promote (true) or demote (false); a demoted admin's streams of other owners' tasks end at once." }),
});

/** The operator's account owns what the admin key submits: it is neither deleted nor demoted. */
function refuseOperatorAccount(userId: string, what: string): void {
  if (userId === ADMIN_USER_ID) throw new ConflictError(`The operator's account (the admin key's) cannot be ${what}.`, { param: "user_id", code: "admin_user_protected" });
}

const noSuchUser = (userId: string) => new NotFoundError(`No user with id '${userId}'.`, { param: "user_id", code: "user_not_found" });

/** An account as the admin sees it: never its password hash. */
function adminUserView(user: UserRecord) {
  return { id: user.id, name: user.name, email: user.email, is_admin: user.isAdmin, has_password: user.passwordHash !== null, created_at: user.createdAt.toISOString() };
}

/** `/v1/admin/users`: accounts that sign in with email and password (mounted behind requireAdmin). */
export function adminUsersRouter(deps: AppDeps): Router {
  const router = Router();

  router.post("/users", async (req, res) => {
    const body = validate(createUserSchema, req.body ?? {});
    const user = await deps.auth.createAccount({ email: body.email, name: body.name, password: body.password, isAdmin: body.is_admin });
    if (!user) throw new ConflictError(`A user with email '${body.email}' exists already.`, { param: "email", code: "email_taken" });
    res.status(201).json(dataEnvelope(adminUserView(user), req, res.locals.startedAt!));
  });

  router.get("/users", async (req, res) => {
    const users = await deps.users.list();
    res.json(dataEnvelope(users.map(adminUserView), req, res.locals.startedAt!));
  });

  router.patch("/users/:userId", async (req, res) => {
    const userId = validate(z.uuid(), req.params.userId, "user_id");
    const body = validate(updateUserSchema, req.body ?? {});
    if (body.is_admin === false) refuseOperatorAccount(userId, "demoted");
    const user = body.is_admin === undefined ? await deps.users.findById(userId) : await deps.users.setAdmin(userId, body.is_admin);
    if (!user) throw noSuchUser(userId);
    // Requests read the flag afresh; open streams that needed it end here and on every other process.
    if (body.is_admin === false) await deps.streamGuard.announce({ type: "user_demoted", userId });
    res.json(dataEnvelope(adminUserView(user), req, res.locals.startedAt!));
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
