// Start-up of a server process (API, worker): its environment, its models file, its logger.
export { parseEnv, byteSizeSchema, flagSchema } from "./env";
export { createLogger, type PinoLogger } from "./logger";
export { loadModelsFile } from "./models-file";
export { MINIMUM_NODE_MAJOR, exitUnlessSupportedNode, unsupportedNode } from "./node-version";
