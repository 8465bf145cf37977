// `npm run build` (services part): bundles each runnable entry with esbuild into its app's dist/, the
// workspace packages (@llmq/*, TypeScript sources, and the generated Prisma client) inlined, every npm
// package left as a require() of the production install. One bundle per entry rather than tsc project
// references: the packages are consumed as TypeScript sources (`main: src/index.ts`) and keep no build of
// their own, so there is nothing to get out of date between them; esbuild does all of it in about a second.
// Run `prisma generate` first (the bundle inlines packages/db/src/generated). The dashboard is built by
// Vite (`npm run build -w @llmq/dashboard`); `npm run build` does both.
import { build } from "esbuild";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const MINIMUM_NODE = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")).engines.node.replace(/^>=/, "");

/** Each app's entries: its main, and files it starts as threads or processes of their own. */
const APPS = {
  "apps/api": ["src/main.ts", "src/native-batches/batch-parser.thread.ts"],
  "apps/worker": ["src/main.ts"],
  "apps/cli": ["src/main.ts"],
};

/** Workspace packages are bundled (their sources are TypeScript); every other bare import is a dependency. */
const externalNpmPackages = {
  name: "external-npm-packages",
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => (args.path.startsWith("@llmq/") ? undefined : { path: args.path, external: true }));
  },
};

const generated = path.join(root, "packages/db/src/generated/prisma");
if (!fs.existsSync(generated)) {
  console.error("build: packages/db/src/generated/prisma is missing: run `npm run db:generate` (prisma generate) first");
  process.exit(1);
}

const started = Date.now();
for (const [app, entries] of Object.entries(APPS)) {
  const outdir = path.join(root, app, "dist");
  fs.rmSync(outdir, { recursive: true, force: true });
  await build({
    absWorkingDir: root,
    entryPoints: entries.map((entry) => path.join(app, entry)),
    outdir,
    // Entries land flat in dist/ (main.js, batch-parser.thread.js): the code finds its thread next to itself.
    entryNames: "[name]",
    bundle: true,
    platform: "node",
    target: `node${MINIMUM_NODE}`,
    format: "cjs",
    sourcemap: true,
    // Error messages and stack traces keep the source's names.
    keepNames: true,
    logLevel: "warning",
    plugins: [externalNpmPackages],
  });
}
console.log(`built ${Object.keys(APPS).join(", ")} into dist/ in ${Date.now() - started} ms`);
