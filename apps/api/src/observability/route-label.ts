/**
 * Names a request by the route pattern it hit (`/v1/ai/tasks/{taskId}`), never by its raw URL, so
 * metrics keep a bounded set of labels whatever ids clients send. Patterns come from the OpenAPI
 * document's paths, which a test keeps equal to the served routes.
 */
export function routeLabeller(documentedPaths: readonly string[], prefixes: readonly string[]): (path: string) => string {
  const patterns = documentedPaths
    .map((pattern) => ({ pattern, regex: new RegExp(`^${pattern.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\\?\{[^}]+\\?\}/g, "[^/]+")}/?$`) }))
    // Literal segments before parameters: `/v1/batches/{id}/cancel` must not be read as `/v1/batches/{id}`.
    .sort((a, b) => a.pattern.split("{").length - b.pattern.split("{").length);
  return (path) => {
    for (const { pattern, regex } of patterns) if (regex.test(path)) return pattern;
    for (const prefix of prefixes) if (path === prefix || path.startsWith(`${prefix}/`)) return prefix;
    return "unmatched";
  };
}

/** The methods an API client uses; Node's parser accepts some thirty more (PROPFIND, PURGE, ...). */
const STANDARD_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** A request's method as a metric label: the standard ones by name, any other as `other`. */
export function methodLabel(method: string): string {
  return STANDARD_METHODS.has(method) ? method : "other";
}
