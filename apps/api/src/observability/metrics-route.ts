import { errorEnvelopeSchema } from "@llmq/contract";
import { z } from "zod";
import { route } from "../http/route";
import { json } from "../openapi/responses";

export const metricsRoutes = {
  metrics: route({
    method: "get",
    path: "/metrics",
    summary: "Prometheus metrics of this API process",
    description:
      "Prometheus text format, for `Authorization: Bearer <METRICS_TOKEN>` or the admin key: tasks by model and status (counted at most every 15 s), queue depth by state, each upstream's state, requests in flight and minute budgets used (`llmq_upstream_*`, one read of the run queue per model per scrape), HTTP latency by route pattern and method (unusual methods as `other`), event-loop lag and process metrics. Queue wait, time to first token, duration and provider errors are observed by the workers, each serving its own /metrics on WORKER_METRICS_PORT.",
    responses: {
      200: { description: "Metrics in the Prometheus text format.", content: { "text/plain": z.string() } },
      401: json("No bearer, or neither METRICS_TOKEN nor the admin key.", errorEnvelopeSchema),
    },
  }),
};
