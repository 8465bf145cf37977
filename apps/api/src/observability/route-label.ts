import type { Express, Request } from "express";

/** The methods an API client uses; Node's parser accepts some thirty more (PROPFIND, PURGE, ...). */
const STANDARD_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** A request's method as a metric label: the standard ones by name, any other as `other`. */
export function methodLabel(method: string): string {
  return STANDARD_METHODS.has(method) ? method : "other";
}

/** Where the matched route's label is kept on the request (set by the accessor below). */
const ROUTE_LABEL = Symbol("llmq.routeLabel");
const ROUTE = Symbol("llmq.route");

interface LabelledRequest {
  [ROUTE]?: unknown;
  [ROUTE_LABEL]?: string;
  baseUrl: string;
}

/** `/tasks/:taskId` -> `/tasks/{taskId}`, `/models/*model` -> `/models/{model}`: the OpenAPI spelling. */
function openApiPath(path: string): string {
  return path.replace(/[:*]([A-Za-z0-9_]+)/g, "{$1}");
}

/** Labels by route object and mount path, computed once each: label strings are not rebuilt per request. */
const labels = new WeakMap<object, Map<string, string>>();

function labelOf(route: { path?: unknown }, baseUrl: string): string {
  let byBase = labels.get(route);
  if (!byBase) labels.set(route, (byBase = new Map()));
  let label = byBase.get(baseUrl);
  if (label === undefined) {
    label = typeof route.path === "string" ? openApiPath(baseUrl + route.path) : "unmatched";
    byBase.set(baseUrl, label);
  }
  return label;
}

/**
 * Names requests by the route Express matched (`/v1/ai/tasks/{taskId}`: the router's mount path plus the
 * route's own path), never by their raw URL, so metrics keep a bounded set of labels whatever ids
 * clients send. The router assigns `req.route` when it dispatches to a route, while `req.baseUrl` is
 * still that router's mount path; an accessor on the app's request prototype notes the label at that
 * moment, at no cost to a request that never reaches it. Mount paths here are literal (no parameters), so
 * the labels stay bounded.
 */
export function recordRouteLabels(app: Express): void {
  Object.defineProperty(app.request, "route", {
    configurable: true,
    enumerable: true,
    get(this: LabelledRequest) {
      return this[ROUTE];
    },
    set(this: LabelledRequest, route: unknown) {
      this[ROUTE] = route;
      if (route && typeof route === "object") this[ROUTE_LABEL] = labelOf(route as { path?: unknown }, this.baseUrl);
    },
  });
}

/** Requests that matched no route but a mounted app of ours (Swagger UI, the dashboard, Bull Board). */
const PREFIXES = ["/admin/queues", "/docs", "/dashboard"];

/** The label of an answered request: its matched route, the prefix of a mounted app, or `unmatched`. */
export function routeLabelOf(req: Request): string {
  const label = (req as unknown as LabelledRequest)[ROUTE_LABEL];
  if (label !== undefined) return label;
  const path = req.originalUrl;
  for (const prefix of PREFIXES) if (path.startsWith(prefix) && (path.length === prefix.length || "/?".includes(path[prefix.length]!))) return prefix;
  return "unmatched";
}
