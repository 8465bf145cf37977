import type { UserUsage, UsageFigures } from "@llmq/db";
import { NotFoundError } from "@llmq/core";
import { Router } from "express";
import type { AppDeps } from "../deps";
import { dataEnvelope } from "../flexstack/envelope";
import { principalOf } from "../http/principal";

function figures(usage: UsageFigures) {
  return {
    tasks: usage.tasks,
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
  };
}

/** `usage` of `GET /v1/users/me`: totals, tasks per status, and the same totals per model (busiest first). */
function usageView(usage: UserUsage) {
  return { ...figures(usage), by_status: usage.byStatus, by_model: usage.byModel.map((model) => ({ model: model.model, ...figures(model) })) };
}

/** `/v1/users/me`: who the caller is (API key or access token) and what their tasks used. */
export function usersRouter(deps: AppDeps): Router {
  const router = Router();
  router.get("/me", async (req, res) => {
    const { userId } = principalOf(req);
    const [user, usage] = await Promise.all([deps.users.findById(userId), deps.users.usage(userId)]);
    if (!user) throw new NotFoundError("This account no longer exists.", { code: "user_not_found" });
    res.json(
      dataEnvelope(
        { id: user.id, name: user.name, email: user.email, is_admin: user.isAdmin, created_at: user.createdAt.toISOString(), usage: usageView(usage) },
        req,
        res.locals.startedAt!,
      ),
    );
  });
  return router;
}
