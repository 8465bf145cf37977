// Imported first by main.ts: an unsupported Node.js ends the process with one clear line, before any
// other module could fail on it in a less readable way.
import { exitUnlessSupportedNode } from "@llmq/config";

exitUnlessSupportedNode("api");
