import { z } from "zod";
import { route } from "../http/route";

export const openApiRoutes = {
  document: route({
    method: "get",
    path: "/openapi.json",
    summary: "This document",
    security: [],
    responses: { 200: { description: "OpenAPI 3.1.", content: { "application/json": z.object({ openapi: z.string(), paths: z.record(z.string(), z.unknown()) }) } } },
  }),
};
