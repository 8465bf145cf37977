import { adminUpstreamsSchema } from "@llmq/contract";
import type { UpstreamSnapshot } from "@llmq/queue";
import type { AppDeps } from "../deps";
import { dataEnvelope } from "../flexstack/envelope";
import { type DeclaredRouter, route } from "../http/route";
import { adminErrors, json } from "../openapi/responses";
import type { ModelUpstreamSnapshot } from "../services/upstream-status";

/** `/v1/admin/upstreams`. */
export const adminUpstreamRoutes = {
  list: route({
    method: "get",
    path: "/v1/admin/upstreams",
    summary: "Every model's upstreams: state, in flight, minute budgets, latency and errors (admin)",
    description:
      "Read from the run queue at each call (one read-only script per model; docs/scheduling.md). Limits are the models file's; `requests_minute` and `tokens_minute` count the sliding 60 s window ending now; latency is over the last 200 successful requests; `errors_5m` counts the last five minutes by kind.",
    responses: { 200: json("Upstreams by model.", adminUpstreamsSchema), ...adminErrors },
  }),
};

export type AdminUpstreamsDeps = Pick<AppDeps, "upstreamStatus">;

const PAUSE_KINDS = new Set(["rate_limited", "quota"] as const);

/** One upstream as the admin route answers it. */
export function upstreamView({ config, snapshot }: ModelUpstreamSnapshot["upstreams"][number]) {
  const s: UpstreamSnapshot = snapshot;
  return {
    name: config.name,
    provider: config.provider.name,
    upstream_model: config.upstreamModel,
    weight: config.weight,
    state: s.state,
    paused_until: s.state === "paused" ? s.pausedUntil : null,
    pause_kind: s.state === "paused" && PAUSE_KINDS.has(s.pauseKind as "quota") ? (s.pauseKind as "rate_limited" | "quota") : null,
    cooldown_until: s.state === "open" ? s.openUntil : null,
    in_flight: s.inFlight,
    max_concurrency: s.maxConcurrency,
    requests_minute: { used: s.requestsMinute, limit: s.requestsPerMinute },
    tokens_minute: { used: s.tokensMinute, limit: s.tokensPerMinute },
    latency_ms: s.latencyMs,
    errors_5m: s.errors,
    last_error: s.lastError,
  };
}

/** `GET /v1/admin/upstreams`: each model's upstreams as the run queue sees them now. */
export function bindAdminUpstreams(router: DeclaredRouter, deps: AdminUpstreamsDeps): void {
  router.handle(adminUpstreamRoutes.list, async (_input, req, res) => {
    const models = (await deps.upstreamStatus.snapshot()).map(({ model, upstreams }) => ({
      model: model.id,
      queue_name: model.queueName,
      fallbacks: model.fallbacks,
      upstreams: upstreams.map(upstreamView),
    }));
    res.json(dataEnvelope({ models }, req, res.locals.startedAt!));
  });
}
