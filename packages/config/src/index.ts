// Start-up of a server process (API, worker): its environment, its models file, its logger.
export { parseEnv, byteSizeSchema, flagSchema } from "./env";
export { createLogger, type PinoLogger } from "./logger";
export { loadModelsFile } from "./models-file";
export { exitUnlessSupportedNode } from "./node-version";
