import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";

/** The repository's root: where .dependency-cruiser.cjs and the workspaces are. */
export const REPO_ROOT = path.resolve(__dirname, "../../..");

/** What `npm run lint:boundaries` looks at when given no paths. */
export const DEFAULT_PATHS = ["apps", "packages", "tests", "bench", "scripts"];

export interface Violation {
  rule: string;
  from: string;
  to: string;
  comment?: string;
}

interface CruiseDependency {
  module: string;
  resolved: string;
  dependencyTypes: string[];
}

interface CruiseResult {
  modules: { source: string; dependencies: CruiseDependency[] }[];
  summary: { violations: { rule: { name: string; severity: string }; from: string; to: string; comment?: string }[]; totalCruised: number; totalDependenciesCruised: number };
}

/** Runs dependency-cruiser with the repository's rules over `paths` (relative to the root). */
async function cruise(paths: readonly string[], options: { maxDepth?: number }): Promise<CruiseResult> {
  const bin = path.join(REPO_ROOT, "node_modules/.bin/depcruise");
  const args = ["--config", ".dependency-cruiser.cjs", "--output-type", "json", ...(options.maxDepth ? ["--max-depth", String(options.maxDepth)] : []), ...paths];
  // It exits non-zero when it finds violations; the JSON on stdout says which.
  const { stdout } = await promisify(execFile)(bin, args, { cwd: REPO_ROOT, maxBuffer: 256 * 1024 * 1024 }).catch((error: { stdout?: string; stderr?: string }) => {
    if (error.stdout?.startsWith("{")) return { stdout: error.stdout };
    throw new Error(`dependency-cruiser failed: ${error.stderr ?? String(error)}`);
  });
  return JSON.parse(stdout) as CruiseResult;
}

/** The package.json closest above `file` (a path relative to the root), with its directory. */
function manifestOf(file: string, cache: Map<string, { dir: string; manifest: Record<string, unknown> } | null>) {
  for (let dir = path.dirname(file); dir !== "." && dir !== "/"; dir = path.dirname(dir)) {
    if (!cache.has(dir)) {
      const candidate = path.join(REPO_ROOT, dir, "package.json");
      cache.set(dir, fs.existsSync(candidate) ? { dir, manifest: JSON.parse(fs.readFileSync(candidate, "utf8")) as Record<string, unknown> } : null);
    }
    const found = cache.get(dir);
    if (found) return found;
  }
  return null;
}

/** `@llmq/db/sub/path` -> `@llmq/db`. */
function packageName(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
}

/**
 * Imports of a workspace package (`@llmq/...`) that the importing workspace's package.json does not
 * declare. dependency-cruiser resolves workspace symlinks to real paths and then judges them local, so
 * its own no-non-package-json rule cannot see these.
 */
function undeclaredWorkspaceImports(result: CruiseResult): Violation[] {
  const manifests = new Map<string, { dir: string; manifest: Record<string, unknown> } | null>();
  const violations: Violation[] = [];
  for (const module of result.modules) {
    for (const dependency of module.dependencies) {
      if (!dependency.dependencyTypes.includes("aliased-workspace")) continue;
      const owner = manifestOf(module.source, manifests);
      const name = packageName(dependency.module);
      if (!owner || owner.manifest.name === name) continue; // a package may name itself
      const declared = ["dependencies", "devDependencies", "peerDependencies", "optionalDependencies"].some((field) =>
        Object.hasOwn((owner.manifest[field] ?? {}) as Record<string, unknown>, name),
      );
      if (!declared) {
        violations.push({ rule: "workspace-import-declared", from: module.source, to: name, comment: `${owner.dir}/package.json does not declare ${name}` });
      }
    }
  }
  return violations;
}

/** Every boundary violation in `paths`: dependency-cruiser's rules, then undeclared workspace imports. */
export async function checkBoundaries(paths: readonly string[] = DEFAULT_PATHS, options: { maxDepth?: number } = {}): Promise<{ violations: Violation[]; modules: number; dependencies: number }> {
  const result = await cruise(paths, options);
  const violations: Violation[] = [
    ...result.summary.violations.filter((v) => v.rule.severity === "error").map((v) => ({ rule: v.rule.name, from: v.from, to: v.to, comment: v.comment })),
    ...undeclaredWorkspaceImports(result),
  ];
  return { violations, modules: result.summary.totalCruised, dependencies: result.summary.totalDependenciesCruised };
}
