// The boundaries between packages, checked by `npm run lint:boundaries` (tests/boundaries), which
// ./scripts/test.sh runs before any test: a violation fails the run. Paths are real paths (workspace
// symlinks resolved), so `@llmq/db` is `packages/db/...` here.

/** Each workspace's source and the workspaces its source may import: every other arrow is forbidden. */
const ARROWS = {
  "packages/core": [],
  "packages/config": ["packages/core"],
  "packages/contract": ["packages/core"],
  "packages/db": ["packages/core"],
  "packages/queue": ["packages/core"],
  "packages/providers": ["packages/core"],
  "packages/webhooks": ["packages/core", "packages/db", "packages/queue"],
  "packages/engine": ["packages/core", "packages/db", "packages/queue", "packages/webhooks"],
  "packages/runtime": ["packages/core", "packages/db", "packages/queue", "packages/webhooks", "packages/engine"],
  "packages/testkit": ["packages/core"],
  "packages/client": ["packages/contract"],
  "apps/api": ["packages/core", "packages/config", "packages/contract", "packages/db", "packages/queue", "packages/webhooks", "packages/engine", "packages/runtime"],
  "apps/worker": ["packages/core", "packages/config", "packages/contract", "packages/db", "packages/queue", "packages/providers", "packages/webhooks", "packages/engine", "packages/runtime"],
  "apps/cli": ["packages/core", "packages/contract", "packages/client"],
  "apps/dashboard": ["packages/core", "packages/contract", "packages/client"],
  "tests/stack": ["packages/core", "packages/testkit", "apps/api", "apps/worker"],
};

const WORKSPACES = "^(packages|apps|tests)/[^/]+/";
const escape = (dir) => dir.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

/** Storage and queue clients: what core and providers never know. */
const STORAGE_OR_QUEUE = "node_modules/(@prisma/|prisma/|pg/|pg-pool/|pg-protocol/|ioredis/|bullmq/)";

module.exports = {
  forbidden: [
    // The named arrows first, so a violation says which promise it breaks.
    {
      name: "routes-never-call-providers",
      comment: "The API stores tasks and relays events; only workers call providers (route -> engine -> queue -> worker -> provider).",
      severity: "error",
      from: { path: "^apps/api/src/" },
      to: { path: "^packages/providers/" },
    },
    {
      name: "workers-never-import-the-api",
      comment: "A worker shares packages with the API, never its code.",
      severity: "error",
      from: { path: "^apps/worker/src/" },
      to: { path: "^apps/api/" },
    },
    {
      name: "no-package-imports-an-app",
      comment: "Apps are things that run; packages are libraries they share. The whole-stack harness is tests/stack.",
      severity: "error",
      from: { path: "^packages/" },
      to: { path: "^apps/" },
    },
    {
      name: "core-knows-no-storage-or-queue",
      comment: "packages/core is the task model: no Postgres, Redis, queue, nor the packages that hold them.",
      severity: "error",
      from: { path: "^packages/core/src/" },
      to: { path: `${STORAGE_OR_QUEUE}|^packages/(db|queue|engine|runtime|webhooks|providers|config)/` },
    },
    {
      name: "core-is-browser-safe",
      comment: "The dashboard imports packages/core: no Node built-ins and no dependency but zod.",
      severity: "error",
      from: { path: "^packages/core/src/" },
      to: { dependencyTypes: ["core", "npm", "npm-dev", "npm-no-pkg", "npm-unknown"], pathNot: "node_modules/zod/" },
    },
    {
      name: "providers-know-no-storage-or-queue",
      comment: "A provider turns a request into a stream of tokens; what happens to them is the worker's business.",
      severity: "error",
      from: { path: "^packages/providers/src/" },
      to: { path: `${STORAGE_OR_QUEUE}|^packages/(db|queue|engine|runtime|webhooks)/` },
    },
    {
      name: "dashboard-reads-through-http-only",
      comment: "The dashboard is a browser app: it imports no server package (only browser-safe core, contract and client) and no Node built-in.",
      severity: "error",
      from: { path: "^apps/dashboard/src/" },
      to: { path: "^(packages|apps|tests)/", pathNot: "^(packages/(core|contract|client)|apps/dashboard)/" },
    },
    {
      name: "client-is-browser-safe",
      comment: "packages/client runs in browsers and Node alike (the dashboard, the CLI, users' code): no Node built-in, no dependency but eventsource-parser.",
      severity: "error",
      from: { path: "^packages/client/src/" },
      to: { dependencyTypes: ["core", "npm", "npm-dev", "npm-no-pkg", "npm-unknown"], pathNot: "node_modules/eventsource-parser/" },
    },
    {
      name: "dashboard-has-no-node",
      comment: "The dashboard runs in a browser.",
      severity: "error",
      from: { path: "^apps/dashboard/src/" },
      to: { dependencyTypes: ["core"] },
    },
    {
      name: "only-db-knows-prisma",
      comment: "packages/db owns Prisma: it creates the client and re-exports the types.",
      severity: "error",
      from: { pathNot: "^packages/db/" },
      to: { path: "node_modules/(@prisma/client|@prisma/adapter-pg|\\.prisma)/|^packages/db/src/generated/" },
    },
    {
      name: "no-test-code-in-production",
      comment: "Source never imports test helpers (packages/testkit, tests/*).",
      severity: "error",
      from: { path: "^(packages|apps)/[^/]+/src/", pathNot: "^packages/testkit/" },
      to: { path: "^(packages/testkit|tests)/" },
    },
    // Every other arrow between workspaces that ARROWS does not list.
    ...Object.entries(ARROWS).map(([workspace, allowed]) => ({
      name: `arrows-of-${workspace.replace("/", "-")}`,
      comment: `${workspace}'s source imports only ${allowed.join(", ") || "no other workspace"}.`,
      severity: "error",
      from: { path: `^${escape(workspace)}/src/` },
      to: { path: WORKSPACES, pathNot: `^(${[workspace, ...allowed].map(escape).join("|")})/` },
    })),
    {
      name: "no-circular",
      comment: "No import cycles, within a package or between packages.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "not-to-unresolvable",
      comment: "Every import resolves.",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: "no-non-package-json",
      comment: "Every npm package imported is declared: in the importing workspace's package.json, or for test tools (jest, supertest, openai, fast-check) in the root's devDependencies. Workspace packages: tests/boundaries.",
      severity: "error",
      from: {},
      to: { dependencyTypes: ["npm-no-pkg", "npm-unknown"] },
    },
    {
      name: "no-dev-dependencies-in-production",
      comment: "Source runs where devDependencies are not installed (NODE_ENV=production): what it imports at run time is a dependency.",
      severity: "error",
      from: { path: "^(packages|apps)/[^/]+/src/", pathNot: "^(packages/testkit|apps/dashboard)/" },
      to: { dependencyTypes: ["npm-dev"], dependencyTypesNot: ["type-only", "npm"] },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    // A workspace's package.json and, above it, the root's (test tools every workspace's tests share).
    combinedDependencies: true,
    exclude: { path: "^(apps|packages)/[^/]+/(dist|src/generated)/" },
    // Type-only imports are arrows too: a type from the API in a worker is a worker knowing the API.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      mainFields: ["main", "types"],
      extensions: [".ts", ".tsx", ".d.ts", ".js", ".mjs", ".cjs", ".json"],
    },
  },
};
