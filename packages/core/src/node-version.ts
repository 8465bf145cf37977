/**
 * The oldest Node.js major llmq runs on. Node 24 is the LTS line supported the longest (to April 2028);
 * 22 ends in April 2027, and the pinned `openai` and `require()` of ESM-only packages from the built
 * bundles need 22 at least. package.json's engines, the Dockerfile's base image and scripts/lib.sh's
 * LLMQ_NODE_VERSION say the same (packages/core/test/node-version.test.ts).
 */
export const MINIMUM_NODE_MAJOR = 24;

/** Why this Node.js version cannot run llmq (one line, naming the fix), or undefined when it can. */
export function unsupportedNode(version: string): string | undefined {
  const major = Number.parseInt(version.replace(/^v/, ""), 10);
  if (major >= MINIMUM_NODE_MAJOR) return undefined;
  return `needs Node.js ${MINIMUM_NODE_MAJOR} or later, and this is Node.js ${version}: install Node.js ${MINIMUM_NODE_MAJOR} LTS, or run ./scripts/start.sh (it fetches one); see docs/deploying.md`;
}
