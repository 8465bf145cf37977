import { type RequestHandler, type Request, type Response, Router } from "express";
import { ValidationError, truncate } from "@llmq/core";
import { z } from "zod";
import { assertNoNulCharacters, validate, validationErrorOf } from "./validate";

export type HttpMethod = "get" | "post" | "patch" | "put" | "delete";

/** One answer a route may give: its description and, per media type, the schema of its body. */
export interface ResponseDeclaration {
  description: string;
  /** Media type -> body schema (`application/json`, `text/event-stream`, ...); none: an empty or untyped body. */
  content?: Record<string, z.ZodType>;
  /** For `text/event-stream`: each event name (`message` for unnamed `data:` frames) and the schema of its data. */
  events?: Record<string, z.ZodType>;
  /** Headers the answer may carry (documented in /openapi.json; not checked). */
  headers?: z.ZodObject;
}

/** What a route accepts. `body` documents the request body; `parseBody: false` leaves the parsing to the handler. */
export interface RequestDeclaration {
  params?: z.ZodObject;
  query?: z.ZodType;
  headers?: z.ZodObject;
  body?: { content: Record<string, z.ZodType>; parse?: boolean };
}

/**
 * A route of the API, declared once: method, full path (OpenAPI's `{name}` form), what it accepts and what
 * it answers per status. Handlers bind to it with `DeclaredRouter.handle`; `/openapi.json` is assembled
 * from the declarations, and in the test suite every response is checked against them.
 */
export interface RouteDeclaration<R extends RequestDeclaration = RequestDeclaration> {
  method: HttpMethod;
  path: string;
  summary: string;
  description?: string;
  /** `[]`: no credential (sign-in, health). Default: the bearer. */
  security?: Record<string, string[]>[];
  request?: R;
  responses: Record<number, ResponseDeclaration>;
}

/** Declares a route (the declaration is a plain object, kept as written for the document and the checks). */
export function route<R extends RequestDeclaration>(declaration: RouteDeclaration<R>): RouteDeclaration<R> {
  return declaration;
}

type Infer<S> = S extends z.ZodType ? z.output<S> : undefined;
type BodyOf<R extends RequestDeclaration> = R["body"] extends { parse: false } ? unknown : R["body"] extends { content: { "application/json": infer S } } ? Infer<S> : unknown;

/** The parsed request a handler receives: each part checked against its declared schema. */
export interface RouteInput<R extends RequestDeclaration> {
  params: R["params"] extends z.ZodType ? z.output<R["params"]> : Record<string, string>;
  query: Infer<R["query"]>;
  headers: Infer<R["headers"]>;
  body: BodyOf<R>;
}

export type RouteHandler<R extends RequestDeclaration> = (input: RouteInput<R>, req: Request, res: Response) => unknown;

/** `/v1/ai/tasks/{taskId}` -> `/tasks/:taskId` under the mount prefix `/v1/ai`. */
function expressPath(path: string, prefix: string): string {
  if (!path.startsWith(prefix)) throw new Error(`route ${path} is not under its router's prefix ${prefix}`);
  // "" rather than "/" for the prefix itself (`/v1/files`, as OpenAI writes it, without a trailing slash).
  const rest = path.slice(prefix.length);
  return rest.replace(/\{(\w+)\+\}/g, "*$1").replace(/\{(\w+)\}/g, ":$1");
}

/** `keyId` -> `key_id`: errors name path parameters as the API names its fields. */
const snakeCase = (name: PropertyKey) => (typeof name === "string" ? name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) : name);

/** Path parameters, a failure naming the parameter (`key_id`) as `param`. */
function parseParams(schema: z.ZodObject, params: unknown) {
  const result = schema.safeParse(params);
  if (!result.success) throw validationErrorOf(new z.ZodError(result.error.issues.map((issue) => ({ ...issue, path: issue.path.map(snakeCase) }))));
  assertNoNulCharacters(result.data, { root: "path" });
  return result.data;
}

/** Longest Content-Type quoted back to the caller. */
const MAX_QUOTED_TYPE = 64;

/**
 * A route that reads JSON got a body its parser left unread (sent without `Content-Type:
 * application/json`, e.g. curl's `-d` alone sends a form type): say so, rather than answer that the
 * fields are missing. A POST without a body (content-length 0) is not refused.
 */
function assertJsonBodyRead(req: Request): void {
  if (req.body !== undefined) return;
  const length = req.get("content-length");
  if (!(length !== undefined ? Number(length) > 0 : req.get("transfer-encoding") !== undefined)) return;
  const type = req.get("content-type")?.split(";")[0]?.trim();
  const came = type ? `as ${truncate(type, MAX_QUOTED_TYPE)}` : "without a Content-Type";
  throw new ValidationError(`Send the body as JSON with the header 'Content-Type: application/json': it came ${came} and was not read.`, {
    param: "content-type",
    code: "unsupported_content_type",
  });
}

/** Parses each declared part of the request, in the caller's dialect's 400 when one does not parse. */
function parseInput<R extends RequestDeclaration>(declaration: RouteDeclaration<R>, req: Request): RouteInput<R> {
  const request = declaration.request ?? ({} as R);
  const headers = request.headers ? validate(request.headers, req.headers, "headers") : undefined;
  const params = request.params ? parseParams(request.params, req.params) : req.params;
  const query = request.query ? validate(request.query, req.query, "query") : undefined;
  const json = request.body?.content["application/json"];
  if (json) assertJsonBodyRead(req);
  const body = json && request.body?.parse !== false ? validate(json, req.body ?? {}) : req.body;
  return { params, query, headers, body } as RouteInput<R>;
}

/**
 * An Express router whose routes come from declarations (after Hono's `createRoute` + `app.openapi`):
 * `handle(declaration, ...middleware, handler)` registers the route under the router's mount prefix,
 * parses params, query, headers and body with the declared schemas, and records what it bound, so the app
 * can prove that everything it serves is documented and everything documented is served.
 */
export class DeclaredRouter {
  readonly router = Router();
  readonly bound: RouteDeclaration[] = [];

  constructor(readonly prefix: string) {}

  handle<R extends RequestDeclaration>(declaration: RouteDeclaration<R>, ...rest: [...RequestHandler[], RouteHandler<R>]): this {
    const handler = rest.pop() as RouteHandler<R>;
    const middleware = rest as RequestHandler[];
    const run: RequestHandler = async (req, res) => {
      await handler(parseInput(declaration, req), req, res);
    };
    this.router[declaration.method](expressPath(declaration.path, this.prefix), ...middleware, run);
    this.bound.push(declaration as RouteDeclaration);
    return this;
  }
}

/** Every declaration of a group of routes (an object of declarations, as router modules export them). */
export function declarationsOf(...groups: Record<string, RouteDeclaration>[]): RouteDeclaration[] {
  return groups.flatMap((group) => Object.values(group));
}

/** Throws unless the app bound each declared route exactly once, and nothing undeclared. */
export function assertServesDeclaredRoutes(bound: readonly RouteDeclaration[], declared: readonly RouteDeclaration[]): void {
  const name = (d: RouteDeclaration) => `${d.method.toUpperCase()} ${d.path}`;
  const seen = new Set<RouteDeclaration>();
  for (const declaration of bound) {
    if (!declared.includes(declaration)) throw new Error(`${name(declaration)} is served but missing from API_ROUTES`);
    if (seen.has(declaration)) throw new Error(`${name(declaration)} is bound twice`);
    seen.add(declaration);
  }
  const unbound = declared.filter((declaration) => !seen.has(declaration));
  if (unbound.length > 0) throw new Error(`declared but not served: ${unbound.map(name).join(", ")}`);
}
