import type { RequestHandler } from "express";
import { canonicalPath } from "./path-aliases";
import type { RouteDeclaration } from "./route";

/** One response held against its route's declaration. */
export interface CheckedResponse {
  /** `METHOD /declared/{path}`. */
  route: string;
  status: number;
  /** Set when the response is not what the route declares: an undeclared status, or a body its schema refuses. */
  problem?: string;
}

export type ResponseObserver = (checked: CheckedResponse) => void;

interface Matcher {
  declaration: RouteDeclaration;
  method: string;
  pattern: RegExp;
  /** Literal characters of the path: the more, the more specific (`/tasks/updates` before `/tasks/{taskId}`). */
  weight: number;
}

function matcherOf(declaration: RouteDeclaration): Matcher {
  const source = declaration.path
    .split(/(\{\w+\+?\})/)
    .map((part) => (part.endsWith("+}") ? ".+" : part.startsWith("{") ? "[^/]+" : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("");
  return { declaration, method: declaration.method.toUpperCase(), pattern: new RegExp(`^${source}/?$`), weight: declaration.path.replace(/\{\w+\+?\}/g, "").length };
}

/** The declaration a request is for, by method and path (an alias path as its declared one); null for a path no route declares. */
export function routeMatcher(routes: readonly RouteDeclaration[]): (method: string, path: string) => RouteDeclaration | null {
  const matchers = routes.map(matcherOf).sort((a, b) => b.weight - a.weight);
  return (method, path) => {
    const declared = canonicalPath(path);
    return matchers.find((m) => m.method === method && m.pattern.test(declared))?.declaration ?? null;
  };
}

const MAX_LISTED_ISSUES = 5;

/** An event's data as sent pre-serialised (the live list's rows), or a plain text frame (`[DONE]`). */
function jsonOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * For the test suite: holds every answer of a declared route against its declaration and reports it to
 * `observe`: the status must be declared, and a JSON body must parse with the status's
 * `application/json` schema. Mounted first, so it also sees the answers of authentication, body parsing
 * and the error handler. Answers are sent unchanged; the test harness fails the suite on a problem.
 */
export function checkResponses(routes: readonly RouteDeclaration[], observe: ResponseObserver): RequestHandler {
  const match = routeMatcher(routes);
  return (req, res, next) => {
    const declaration = match(req.method, req.path);
    if (!declaration) return next();
    const name = `${declaration.method.toUpperCase()} ${declaration.path}`;
    let bodyProblem: string | undefined;
    const issuesOf = (error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }) =>
      error.issues
        .slice(0, MAX_LISTED_ISSUES)
        .map((issue) => `${issue.path.map(String).join(".") || "(data)"}: ${issue.message}`)
        .join("; ");
    res.locals.checkSseEvent = (event, data) => {
      if (bodyProblem) return; // the first problem is the one worth reading
      const events = declaration.responses[res.statusCode]?.events;
      if (!events) return;
      const name = event ?? "message";
      const schema = events[name];
      if (!schema) {
        bodyProblem = `sent event '${name}', which ${res.statusCode} does not declare`;
        return;
      }
      const parsed = schema.safeParse(typeof data === "string" ? jsonOrText(data) : data);
      if (!parsed.success) bodyProblem = `event '${name}' does not match its declared schema: ${issuesOf(parsed.error)}`;
    };
    const json = res.json.bind(res);
    res.json = (body: unknown) => {
      const schema = declaration.responses[res.statusCode]?.content?.["application/json"];
      if (declaration.responses[res.statusCode] && !schema) bodyProblem = `answered JSON, but ${res.statusCode} declares no application/json body`;
      else if (schema) {
        const parsed = schema.safeParse(body);
        if (!parsed.success) bodyProblem = `body does not match the declared ${res.statusCode} schema: ${issuesOf(parsed.error)}`;
      }
      return json(body);
    };
    let reported = false;
    const report = () => {
      if (reported) return;
      reported = true;
      const declared = declaration.responses[res.statusCode] !== undefined;
      observe({ route: name, status: res.statusCode, ...(declared ? (bodyProblem ? { problem: bodyProblem } : {}) : { problem: `status ${res.statusCode} is not declared` }) });
    };
    // A stream the client leaves ends with "close" and no "finish".
    res.once("finish", report).once("close", report);
    next();
  };
}
