// scripts/lib.sh's install step (start.sh, test.sh, bench.sh and the image's RUN lines call it): it installs
// again whenever node_modules is not what the lock file, the manifests and the mode ask for, a half-finished
// or NODE_ENV=production install included, and leaves a complete one alone. npm is replaced by a recorder
// that lays out the files an install would, so each case shows exactly which npm commands ran.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const REPO_ROOT = path.resolve(__dirname, "../../..");
const PRODUCTION_FILES = ["node_modules/.bin/prisma", "node_modules/@prisma/client/package.json", "node_modules/adapter-pg-cli/package.json", "node_modules/express/package.json"];
const DEV_FILES = [...PRODUCTION_FILES, "node_modules/.bin/tsc", "node_modules/.bin/tsx", "node_modules/.bin/jest", "node_modules/.bin/esbuild", "node_modules/.bin/prisma-kysely", "node_modules/vite/package.json"];

// The recorder: logs its arguments; an install lays out the production or the dev files, as npm would.
const FAKE_NPM = `#!/usr/bin/env bash
echo "npm $*" >> calls.log
mkdir -p node_modules/.bin && touch node_modules/.package-lock.json
files=(${PRODUCTION_FILES.join(" ")})
[[ " $* " == *" --omit=dev "* ]] || files=(${DEV_FILES.join(" ")})
for f in "\${files[@]}"; do mkdir -p "$(dirname "$f")"; printf '#!/bin/sh\\nexit 0\\n' > "$f"; chmod +x "$f"; done
`;

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "llmq-install-"));
  fs.mkdirSync(path.join(dir, "scripts"));
  fs.mkdirSync(path.join(dir, "fake-bin"));
  for (const file of ["scripts/lib.sh", "scripts/prune-optional-peers.mjs"]) fs.copyFileSync(path.join(REPO_ROOT, file), path.join(dir, file));
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "fixture", workspaces: [] }));
  fs.writeFileSync(path.join(dir, "package-lock.json"), JSON.stringify({ lockfileVersion: 3, packages: { "": {} } }));
  fs.writeFileSync(path.join(dir, "fake-bin/npm"), FAKE_NPM, { mode: 0o755 });
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs `install_dependencies MODE` there; the npm commands it ran. */
function install(mode: "dev" | "production", env: Record<string, string> = {}): string[] {
  fs.rmSync(path.join(dir, "calls.log"), { force: true });
  const run = spawnSync("bash", ["-c", `source scripts/lib.sh && install_dependencies ${mode}`], {
    cwd: dir,
    env: { PATH: `${path.join(dir, "fake-bin")}:${process.env.PATH ?? ""}`, HOME: dir, ...env },
    encoding: "utf8",
  });
  expect({ status: run.status, stderr: run.status === 0 ? "" : run.stderr }).toEqual({ status: 0, stderr: "" });
  return fs.existsSync(path.join(dir, "calls.log")) ? fs.readFileSync(path.join(dir, "calls.log"), "utf8").trim().split("\n") : [];
}
const DEV_INSTALL = "npm install --no-save --prefer-offline --no-audit --no-fund --loglevel=error --strict-allow-scripts --include=dev";
const PRODUCTION_INSTALL = "npm ci --prefer-offline --no-audit --no-fund --loglevel=error --strict-allow-scripts --omit=dev --workspace=@llmq/api --workspace=@llmq/worker --workspace=@llmq/cli";

describe("install_dependencies", () => {
  test("a node_modules left by NODE_ENV=production npm install (no dev tools, newer than the lock) is completed", () => {
    // What `NODE_ENV=production npm install` left: production packages only, written after the lock file.
    for (const file of PRODUCTION_FILES) {
      fs.mkdirSync(path.join(dir, path.dirname(file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    }
    fs.writeFileSync(path.join(dir, "node_modules/.package-lock.json"), "{}");
    expect(install("dev", { NODE_ENV: "production" })).toEqual([DEV_INSTALL]);
    for (const file of DEV_FILES) expect(fs.existsSync(path.join(dir, file))).toBe(true);
  });

  test("a complete install is left alone; a missing tool, a changed lock file (even with an older time) or manifest installs again", () => {
    expect(install("dev")).toEqual([DEV_INSTALL]);
    expect(install("dev")).toEqual([]);
    // An interrupted install, or someone's `rm`: a key tool is missing.
    fs.rmSync(path.join(dir, "node_modules/.bin/tsc"));
    expect(install("dev")).toEqual([DEV_INSTALL]);
    expect(install("dev")).toEqual([]);
    // A lock file from `git checkout` of another branch keeps no newer time than node_modules.
    fs.writeFileSync(path.join(dir, "package-lock.json"), JSON.stringify({ lockfileVersion: 3, packages: { "": { dependencies: { express: "5.3.0" } } } }));
    const past = new Date(Date.now() - 86_400_000);
    fs.utimesSync(path.join(dir, "package-lock.json"), past, past);
    expect(install("dev")).toEqual([DEV_INSTALL]);
    fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "fixture", workspaces: [], description: "changed" }));
    expect(install("dev")).toEqual([DEV_INSTALL]);
    expect(install("dev")).toEqual([]);
  });

  test("the production mode installs the services' dependencies only, and another mode installs again", () => {
    expect(install("production")).toEqual([PRODUCTION_INSTALL]);
    expect(install("production")).toEqual([]);
    expect(install("dev")).toEqual([DEV_INSTALL]);
    expect(install("production")).toEqual([PRODUCTION_INSTALL]);
  });

  // npm refuses the install (--strict-allow-scripts) when a locked package has an install script that
  // allowScripts does not name; an entry naming no such package is a review nobody can see any more.
  test("the root package.json's allowScripts names exactly the locked packages that have an install script", () => {
    const lock = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, { hasInstallScript?: boolean }> };
    const withScripts = Object.entries(lock.packages)
      .filter(([, entry]) => entry.hasInstallScript)
      .map(([where]) => where.slice(where.lastIndexOf("node_modules/") + "node_modules/".length));
    const { allowScripts } = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as { allowScripts: Record<string, boolean> };
    expect(withScripts.length).toBeGreaterThan(0);
    expect([...new Set(withScripts)].sort()).toEqual(Object.keys(allowScripts).sort());
  });
});
