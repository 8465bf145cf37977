/**
 * Flexstack documents its task API without `/v1` (`POST /ai/text_completion`): every route under
 * `/v1/ai` also answers under `/ai`, the same handlers mounted at both prefixes (app.ts), listed under
 * both in /openapi.json (openapi/document.ts) and checked against the same declarations in tests.
 */
export const PATH_ALIASES: readonly { readonly path: string; readonly alias: string }[] = [{ path: "/v1/ai", alias: "/ai" }];

/** Is `path` `prefix` itself or below it (`/ai/x` is under `/ai`; `/aix` is not)? */
export function isUnder(path: string, prefix: string): boolean {
  return path === prefix || (path.startsWith(prefix) && path[prefix.length] === "/");
}

/** The prefixes a mount answers at: `/v1/ai/batches` -> `/v1/ai/batches` and `/ai/batches`. */
export function mountPaths(prefix: string): string[] {
  return [prefix, ...PATH_ALIASES.filter((a) => isUnder(prefix, a.path)).map((a) => a.alias + prefix.slice(a.path.length))];
}

/** A path as its declaration writes it: `/ai/tasks/abc` -> `/v1/ai/tasks/abc`; any other path unchanged. */
export function canonicalPath(path: string): string {
  const alias = PATH_ALIASES.find((a) => isUnder(path, a.alias));
  return alias ? alias.path + path.slice(alias.alias.length) : path;
}

/** The other paths a declared path answers at: `/v1/ai/tasks/{taskId}` -> [`/ai/tasks/{taskId}`]. */
export function aliasesOf(path: string): string[] {
  return mountPaths(path).slice(1);
}
