// Start-up of a server process (API, worker): its environment, its models file, its logger.
export { parseEnv, byteSizeSchema, flagSchema, retentionDaysSchema } from "./env";
export { createLogger, type LogFormat, type PinoLogger } from "./logger";
export { prettyLogLine } from "./pretty-log";
export { loadModelsFile } from "./models-file";
export { exitUnlessSupportedNode } from "./node-version";
