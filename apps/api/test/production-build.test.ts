// `npm run build` (its services part, scripts/build.mjs) and what production runs: each app bundled into
// its dist/ with the workspace packages inlined and only runtime dependencies left to require, and the
// built API and worker serving a completion on the test Postgres and Redis with no TypeScript runner.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createTestDatabase, json, spawnService, testRedisUrl, uniquePrefix, type ServiceProcess } from "@llmq/testkit";

const REPO_ROOT = path.resolve(__dirname, "../../..");
const ADMIN_KEY = `admin_${uniquePrefix()}_0123456789abcdef`;

interface Manifest {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}
const manifest = (dir: string) => JSON.parse(fs.readFileSync(path.join(REPO_ROOT, dir, "package.json"), "utf8")) as Manifest;
const WORKSPACE_DIRS = new Map<string, string>(
  ["apps", "packages"].flatMap((parent) =>
    fs.readdirSync(path.join(REPO_ROOT, parent)).map((name): [string, string] => [`@llmq/${name}`, `${parent}/${name}`]),
  ),
);

/** The npm packages an app may require at run time: its dependencies and those of the workspace packages it uses, transitively. */
function runtimeDependencies(dir: string, seen = new Set<string>()): Set<string> {
  const names = new Set<string>();
  for (const name of Object.keys(manifest(dir).dependencies ?? {})) {
    const workspace = WORKSPACE_DIRS.get(name);
    if (!workspace) names.add(name);
    else if (!seen.has(name)) {
      seen.add(name);
      for (const inner of runtimeDependencies(workspace, seen)) names.add(inner);
    }
  }
  return names;
}

/** The packages a bundle requires (`@scope/name` or `name`), Node's built-ins aside. */
function requiredPackages(file: string): string[] {
  const text = fs.readFileSync(path.join(REPO_ROOT, file), "utf8");
  const packages = [...text.matchAll(/\brequire\("([^"]+)"\)/g)]
    .map((match) => match[1]!)
    .filter((name) => !name.startsWith("node:") && !name.startsWith("."))
    .map((name) => name.split("/").slice(0, name.startsWith("@") ? 2 : 1).join("/"));
  return [...new Set(packages)].sort();
}

const BUNDLES: Array<[app: string, files: string[]]> = [
  ["apps/api", ["apps/api/dist/main.js", "apps/api/dist/batch-parser.thread.js"]],
  ["apps/worker", ["apps/worker/dist/main.js"]],
  ["apps/cli", ["apps/cli/dist/main.js"]],
];

beforeAll(() => {
  const build = spawnSync(process.execPath, ["scripts/build.mjs"], { cwd: REPO_ROOT, encoding: "utf8", timeout: 120_000 });
  expect({ status: build.status, stderr: build.stderr }).toEqual({ status: 0, stderr: "" });
});

describe("npm run build", () => {
  test.each(BUNDLES)("%s: its bundles inline the workspace packages and require only its runtime dependencies", (app, files) => {
    const allowed = runtimeDependencies(app);
    const { builtinModules } = require("node:module") as typeof import("node:module");
    for (const file of files) {
      const required = requiredPackages(file).filter((name) => !builtinModules.includes(name));
      expect(required.filter((name) => name.startsWith("@llmq/"))).toEqual([]);
      expect(required.filter((name) => !allowed.has(name))).toEqual([]);
      expect(required.length).toBeGreaterThan(0);
    }
  });

  test("tools are devDependencies: no runtime dependency closure holds a compiler, test runner or bundler", () => {
    const tools = ["typescript", "tsx", "jest", "esbuild", "vite", "vitest", "@swc/core", "@swc/jest", "turbo", "prisma-kysely"];
    for (const [app] of BUNDLES) {
      const closure = runtimeDependencies(app);
      expect(tools.filter((tool) => closure.has(tool))).toEqual([]);
      expect([...closure].filter((name) => name.startsWith("@types/"))).toEqual([]);
    }
    // Migrations run in production: the Prisma CLI and its config's adapter are runtime dependencies of @llmq/db.
    expect(Object.keys(manifest("packages/db").dependencies ?? {})).toEqual(expect.arrayContaining(["prisma", "adapter-pg-cli"]));
    const config = fs.readFileSync(path.join(REPO_ROOT, "prisma.config.ts"), "utf8");
    const imported = [...config.matchAll(/from "([^"]+)"/g)].map((match) => match[1]!.split("/")[0]!).filter((name) => !name.startsWith("node:"));
    expect(imported.filter((name) => !(name in (manifest("packages/db").dependencies ?? {})))).toEqual([]);
  });
});

describe("the built services", () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let dir: string;
  const services: ServiceProcess[] = [];
  beforeAll(async () => {
    database = await createTestDatabase();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "llmq-built-"));
    fs.writeFileSync(path.join(dir, "models.json"), JSON.stringify({ providers: { quick: { type: "simulated", first_token_ms: 1, tokens_per_second: 2000 } }, models: [{ id: "quick-model", provider: "quick", concurrency: 2 }] }));
  });
  afterAll(async () => {
    for (const service of services) await service.stop();
    await database?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("node apps/api/dist/main.js and apps/worker/dist/main.js answer a completion, with no TypeScript runner loaded", async () => {
    const env = {
      NODE_ENV: "production",
      DATABASE_URL: database.url,
      REDIS_URL: testRedisUrl(),
      REDIS_PREFIX: uniquePrefix(),
      MODELS_FILE: path.join(dir, "models.json"),
      ADMIN_API_KEY: ADMIN_KEY,
      AUTH_JWT_SECRET: `jwt_${uniquePrefix()}_0123456789abcdef0123456789abcdef`,
      PORT: "0",
      API_PROCESSES: "1",
      LOG_LEVEL: "info",
    };
    const api = await spawnService("apps/api/dist/main.js", env, /"msg":"api listening"/);
    services.push(api);
    services.push(await spawnService("apps/worker/dist/main.js", env, /worker ready/));
    const url = /"url":"(http:\/\/[^"]+)"/.exec(api.output())![1]!;
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    const answer = await fetch(`${url}/v1/ai/text_completion`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "Hello" }], configs: { model: "quick-model", max_tokens: 16 } }),
    });
    expect(answer.status).toBe(200);
    expect((await json(answer)).data.data.status).toBe("COMPLETED");
    // The dashboard is served from apps/dashboard/dist, found from the bundle's place.
    const dashboard = await fetch(`${url}/dashboard/`);
    expect(dashboard.status).toBe(200);
    expect(await dashboard.text()).toContain('<div id="root">');
    // Nothing of tsx in the processes: their own command lines name the built files.
    for (const service of services) expect(fs.readFileSync(`/proc/${service.child.pid}/cmdline`, "utf8").split("\0").filter(Boolean).slice(1)).toEqual([expect.stringMatching(/dist\/main\.js$/)]);
  });
});
