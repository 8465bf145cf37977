import { unsupportedNode } from "@llmq/core";

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
