// Imported first by main.ts: an unsupported Node.js ends the command with one clear line (status 1), before
// any other module could fail on it in a less readable way. (The services do the same through @llmq/config.)
import { unsupportedNode } from "@llmq/core";

const problem = unsupportedNode(process.versions.node);
if (problem !== undefined) {
  process.stderr.write(`llmq ${problem}\n`);
  process.exit(1);
}
