import { ValidationError } from "@llmq/core";
import cors from "cors";
import type { RequestHandler } from "express";
import helmet from "helmet";

/**
 * Security headers for everything the process serves: JSON routes, Swagger UI at /docs and the
 * dashboard SPA at /dashboard, all same-origin. Helmet's CSP already fits them (scripts and styles from
 * 'self', inline styles allowed for swagger-ui, images from 'self' and data:), with two changes: no
 * `upgrade-insecure-requests`, because the service is often reached over plain HTTP on a private
 * network where upgrading would break every asset; and `connect-src 'self'` spelled out for the
 * dashboard's fetch and EventSource calls.
 */
export function securityHeaders(): RequestHandler {
  const headers = staticHeaders(
    helmet({
      contentSecurityPolicy: {
        directives: {
          "connect-src": ["'self'"],
          "upgrade-insecure-requests": null,
        },
      },
    }),
  );
  return (_req, res, next) => {
    for (const [name, value] of headers) res.setHeader(name, value);
    next();
  };
}

/**
 * The headers a middleware sets when it does nothing but set headers, read by running it once on a
 * stand-in response. Helmet's output depends on neither request nor response when no directive is a
 * function (none of ours is), so it is computed at start-up, not formatted again on every request.
 */
function staticHeaders(middleware: (req: never, res: never, next: (error?: unknown) => void) => void): [string, string][] {
  const headers = new Map<string, string>();
  const res = {
    setHeader: (name: string, value: unknown) => void headers.set(name, String(value)),
    removeHeader: () => undefined,
    getHeader: () => undefined,
  };
  let error: unknown = "next was not called";
  middleware({ headers: {}, method: "GET", url: "/" } as never, res as never, (failure) => (error = failure ?? null));
  if (error !== null) throw new Error(`security headers could not be precomputed: ${String(error)}`);
  return [...headers];
}

/** Request headers a browser client may send: auth, JSON bodies, retries, and SSE resumption. */
const ALLOWED_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID", "Prefer"];
/** Response headers a browser client may read: the task behind a response, back-off, and new resources. */
const EXPOSED_HEADERS = ["X-Task-Id", "Retry-After", "Location", "X-Llmq-Overhead-Ms", "OpenAI-Poll-After-Ms"];

/**
 * CORS for the exact origins listed in CORS_ORIGINS, closed when the list is empty. A foreign origin
 * gets no CORS header at all (its browser then refuses to hand over the response), and its preflight
 * is not answered here. No credentials: keys travel in `Authorization`, never in cookies.
 */
export function corsPolicy(origins: readonly string[]): RequestHandler {
  const allowed = new Set(origins);
  if (allowed.size === 0) return (_req, _res, next) => next();
  return cors({
    origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin)),
    methods: ["GET", "POST", "DELETE"],
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: EXPOSED_HEADERS,
    credentials: false,
    maxAge: 600,
  });
}

/**
 * A URL path holding an encoded NUL (`%00`) is refused at once: every id in a path ends up in a
 * Postgres query, and Postgres text cannot hold NUL, so it would fail there as a database error.
 */
export const rejectNulInPath: RequestHandler = (req, _res, next) => {
  if (/%00/.test(req.path)) return next(new ValidationError("The URL path contains a NUL character (%00).", { param: "path", code: "invalid_path" }));
  next();
};
