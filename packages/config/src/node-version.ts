/**
 * The oldest Node.js major llmq runs on. Node 24 is the LTS line supported the longest (to April 2028);
 * 22 ends in April 2027, and the pinned `openai` and `require()` of ESM-only packages from the built
 * bundles need 22 at least. package.json's engines, the Dockerfile's base image and scripts/lib.sh's
 * LLMQ_NODE_VERSION say the same (packages/config/test/node-version.test.ts).
 */
export const MINIMUM_NODE_MAJOR = 24;

/** Why this Node.js cannot run llmq (one line), or undefined when it can. */
export function unsupportedNode(version: string): string | undefined {
  const major = Number.parseInt(version.replace(/^v/, ""), 10);
  if (major >= MINIMUM_NODE_MAJOR) return undefined;
  return `needs Node.js ${MINIMUM_NODE_MAJOR} or later, and this is Node.js ${version}: install Node.js ${MINIMUM_NODE_MAJOR} LTS, or run ./scripts/start.sh (it fetches one); see docs/deploying.md`;
}

/**
 * Ends the process (status 1, one line on stderr) when this Node.js is too old for llmq. A service's entry
 * imports a module calling it before anything else, so the message comes before any other failure.
 */
export function exitUnlessSupportedNode(name: string): void {
  const problem = unsupportedNode(process.versions.node);
  if (problem === undefined) return;
  process.stderr.write(`${name} ${problem}\n`);
  process.exit(1);
}
