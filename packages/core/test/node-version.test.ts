// The Node.js version llmq needs, said the same everywhere: package.json's engines, the Dockerfile's base
// image, scripts/lib.sh's fetched Node, the README; and each service refusing an older Node with one line.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { MINIMUM_NODE_MAJOR, unsupportedNode } from "../src";

const REPO_ROOT = path.resolve(__dirname, "../../..");
const read = (file: string) => fs.readFileSync(path.join(REPO_ROOT, file), "utf8");

describe("the Node.js version", () => {
  test("package.json's engines, the Dockerfile, scripts/lib.sh and the README name the same Node.js", () => {
    const manifest = JSON.parse(read("package.json")) as { engines: { node: string } };
    expect(manifest.engines.node).toBe(`>=${MINIMUM_NODE_MAJOR}`);
    const fetched = /^LLMQ_NODE_VERSION=(\d+)\.\d+\.\d+$/m.exec(read("scripts/lib.sh"));
    expect(Number(fetched?.[1])).toBe(MINIMUM_NODE_MAJOR);
    const images = [...read("Dockerfile").matchAll(/^FROM (node:\S+)/gm)].map((match) => match[1]);
    expect(images).toEqual([`node:${/^LLMQ_NODE_VERSION=(\S+)$/m.exec(read("scripts/lib.sh"))?.[1]}-bookworm-slim`]);
    expect(read("README.md")).toContain(`Node.js ${MINIMUM_NODE_MAJOR}`);
    expect(read("docs/deploying.md")).toContain(`Node.js ${MINIMUM_NODE_MAJOR}`);
  });

  test("an older Node.js is named with the fix; the supported ones pass", () => {
    expect(unsupportedNode("20.20.2")).toBe(
      `needs Node.js ${MINIMUM_NODE_MAJOR} or later, and this is Node.js 20.20.2: install Node.js ${MINIMUM_NODE_MAJOR} LTS, or run ./scripts/start.sh (it fetches one); see docs/deploying.md`,
    );
    expect(unsupportedNode(`${MINIMUM_NODE_MAJOR - 1}.99.0`)).toBeDefined();
    expect(unsupportedNode(`${MINIMUM_NODE_MAJOR}.0.0`)).toBeUndefined();
    expect(unsupportedNode(`v${MINIMUM_NODE_MAJOR + 2}.1.0`)).toBeUndefined();
  });

  // Each entry as its process starts it, on a Node.js that says it is 20.20.2: one line on stderr, status 1,
  // before the environment is even read (none is given here, which would otherwise fail differently).
  test.each([
    ["api", "apps/api/src/main.ts"],
    ["worker", "apps/worker/src/main.ts"],
    ["llmq", "apps/cli/src/main.ts"],
  ])("%s refuses Node.js 20 with one line and status 1", (name, entry) => {
    const run = spawnSync(
      process.execPath,
      ["--import", "tsx", "-e", `Object.defineProperty(process.versions, "node", { value: "20.20.2" }); require(${JSON.stringify(path.join(REPO_ROOT, entry))});`],
      { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? "" }, encoding: "utf8", timeout: 30_000 },
    );
    expect({ status: run.status, stdout: run.stdout, stderr: run.stderr }).toEqual({
      status: 1,
      stdout: "",
      stderr: `${name} ${unsupportedNode("20.20.2")}\n`,
    });
  });
});
