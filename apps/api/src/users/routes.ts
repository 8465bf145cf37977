import type { UserUsage, UsageFigures } from "@llmq/db";
import { NotFoundError } from "@llmq/core";
import { meSchema } from "@llmq/contract";
import type { AppDeps } from "../deps";
import { DeclaredRouter, route } from "../http/route";
import { flexstackErrors, json } from "../openapi/responses";
import { dataEnvelope } from "../flexstack/envelope";
import { type Principal, principalOf } from "../http/principal";
import { limitsView } from "../services/limits";

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

/**
 * `quota` of `GET /v1/users/me`: the limits this caller is held to (its key's, when it came with one, and
 * its user's; 0: unlimited; null for the admin key, which has none) and today's token counters.
 */
async function quotaView(deps: Pick<AppDeps, "tokenUsage">, principal: Principal) {
  const quota = principal.quota;
  const tokensToday = await deps.tokenUsage.usedToday({ userId: principal.userId, keyId: quota?.key ? principal.keyId : null });
  return {
    limits: quota ? { key: quota.key ? limitsView(quota.key) : null, user: limitsView(quota.user) } : null,
    tokens_today: tokensToday,
  };
}

export const userRoutes = {
  me: route({
    method: "get",
    path: "/v1/users/me",
    summary: "The caller's account and usage totals (tasks, tokens, per status and per model)",
    responses: { 200: json("The account.", meSchema), ...flexstackErrors },
  }),
};

/** `/v1/users/me`: who the caller is (API key or access token), its limits, and what its tasks used. */
export function usersRouter(deps: Pick<AppDeps, "users" | "tokenUsage">): DeclaredRouter {
  const router = new DeclaredRouter("/v1/users");
  router.handle(userRoutes.me, async (_input, req, res) => {
    const principal = principalOf(req);
    const { userId } = principal;
    const [user, usage, quota] = await Promise.all([deps.users.findById(userId), deps.users.usage(userId), quotaView(deps, principal)]);
    if (!user) throw new NotFoundError("This account no longer exists.", { code: "user_not_found" });
    res.json(
      dataEnvelope(
        { id: user.id, name: user.name, email: user.email, is_admin: user.isAdmin, created_at: user.createdAt.toISOString(), usage: usageView(usage), quota },
        req,
        res.locals.startedAt!,
      ),
    );
  });
  return router;
}
