import { flexstackRoutes } from "../flexstack/routes";
import { declarationsOf } from "../http/route";
import { openAIRoutes } from "../openai/routes";

/** Every declared route of the API: `/openapi.json` is assembled from these, and the app serves exactly these. */
export const API_ROUTES = declarationsOf(flexstackRoutes, openAIRoutes);
