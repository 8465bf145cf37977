import { adminKeyRoutes } from "../admin/routes";
import { adminQueueRoutes } from "../admin/queues-routes";
import { adminUpstreamRoutes } from "../admin/upstreams-routes";
import { adminUserRoutes } from "../admin/users-routes";
import { authRoutes } from "../auth/routes";
import { batchRoutes } from "../batches/routes";
import { fileRoutes } from "../files/routes";
import { flexstackRoutes } from "../flexstack/routes";
import { healthRoutes } from "../health/routes";
import { metricsRoutes } from "../observability/metrics-route";
import { userRoutes } from "../users/routes";
import { openApiRoutes } from "./openapi-route";
import { declarationsOf } from "../http/route";
import { nativeBatchRoutes } from "../native-batches/routes";
import { openAIRoutes } from "../openai/routes";
import { responseRoutes } from "../responses/routes";
import { webhookRoutes } from "../webhooks/routes";

/** Every declared route of the API: `/openapi.json` is assembled from these, and the app serves exactly these. */
export const API_ROUTES = declarationsOf(flexstackRoutes, nativeBatchRoutes, webhookRoutes, adminKeyRoutes, adminUserRoutes, adminQueueRoutes, adminUpstreamRoutes, authRoutes, userRoutes, fileRoutes, batchRoutes, openAIRoutes, responseRoutes, healthRoutes, openApiRoutes, metricsRoutes);
