import type { z } from "zod";
import { type ZodOpenApiOperationObject, type ZodOpenApiPathsObject, createDocument } from "zod-openapi";
import { aliasesOf } from "../http/path-aliases";
import type { RouteDeclaration } from "../http/route";
import { API_ROUTES } from "./routes";

/** A declaration as an OpenAPI operation. */
function operationOf(declaration: RouteDeclaration): ZodOpenApiOperationObject {
  const { request = {} } = declaration;
  const requestParams = {
    ...(request.params ? { path: request.params } : {}),
    ...(request.query ? { query: request.query as z.ZodObject } : {}),
    ...(request.headers ? { header: request.headers } : {}),
  };
  const content = (byType: Record<string, z.ZodType>) => Object.fromEntries(Object.entries(byType).map(([type, schema]) => [type, { schema }]));
  return {
    summary: declaration.summary,
    ...(declaration.description ? { description: declaration.description } : {}),
    ...(declaration.security ? { security: declaration.security } : {}),
    ...(request.params || request.query || request.headers ? { requestParams } : {}),
    ...(request.body ? { requestBody: { content: content(request.body.content) } } : {}),
    responses: Object.fromEntries(
      Object.entries(declaration.responses).map(([status, answer]) => [status, { description: answer.description, ...(answer.content ? { content: content(answer.content) } : {}), ...(answer.headers ? { headers: answer.headers } : {}) }]),
    ),
  };
}

/** The operation under an alias path: the same, saying which path it stands for. */
function aliasOperation(operation: ZodOpenApiOperationObject, declaration: RouteDeclaration): ZodOpenApiOperationObject {
  const note = `The same as \`${declaration.method.toUpperCase()} ${declaration.path}\` (Flexstack's own path, without \`/v1\`).`;
  return { ...operation, description: operation.description ? `${note}\n\n${operation.description}` : note };
}

/** The OpenAPI 3.1 document, assembled from the route declarations (the same zod schemas that validate requests). */
export function buildOpenApiDocument(routes: readonly RouteDeclaration[] = API_ROUTES) {
  const paths: ZodOpenApiPathsObject = {};
  for (const declaration of routes) {
    const operation = operationOf(declaration);
    // Its own path, then each alias (`/ai/...` for `/v1/ai/...`): the same operation under both.
    for (const path of [declaration.path, ...aliasesOf(declaration.path)]) {
      // `{name+}` (a parameter that takes the rest of the path, slashes included) is `{name}` in OpenAPI.
      const item = (paths[path.replace(/\+\}/g, "}")] ??= {}) as Record<string, unknown>;
      if (item[declaration.method]) throw new Error(`${declaration.method.toUpperCase()} ${path} is declared twice`);
      item[declaration.method] = path === declaration.path ? operation : aliasOperation(operation, declaration);
    }
  }
  return createDocument({
    openapi: "3.1.0",
    info: {
      title: "llmq: asynchronous task queue for LLM completions",
      version: "0.1.0",
      description: "Flexstack-style task API over per-model BullMQ queues, tasks stored in Postgres.",
    },
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    security: [{ bearer: [] }],
    paths,
  });
}
