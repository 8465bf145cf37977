import { ConflictError } from "@llmq/core";
import type { UserRecord } from "@llmq/db";
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

  return router;
}
