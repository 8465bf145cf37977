import pino, { type Logger as PinoLogger } from "pino";
import { type LogFormat, prettyLogLine } from "./pretty-log";

export type { PinoLogger, LogFormat };

/** Paths whose values never reach the logs: keys, passwords, tokens, webhook secrets. */
const REDACT_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  // Clients used to other APIs send their key in these too; we ignore them but log request headers.
  'req.headers["x-api-key"]',
  'req.headers["proxy-authorization"]',
  'req.headers["api-key"]',
  "headers.authorization",
  'headers["x-api-key"]',
  "*.apiKey",
  "*.api_key",
  "*.password",
  "*.secret",
  "*.token",
  "apiKey",
  "password",
  "secret",
];

/**
 * The process logger: JSON lines (pino) on stdout, secrets redacted, level from LOG_LEVEL. It is a `Logger`
 * of @llmq/core (the interface libraries take), and a pino logger for what needs one. LOG_FORMAT `auto`
 * (the apps' default) writes one readable line per entry when stdout is a terminal (start.sh in a shell)
 * and JSON otherwise (a pipe, a file, a container's log driver); `json` and `pretty` force one.
 */
export function createLogger(options: { name: string; level: string; format?: LogFormat | "auto" }): PinoLogger {
  const base = { name: options.name, level: options.level, redact: { paths: REDACT_PATHS, censor: "[redacted]" } };
  const format = options.format === "auto" ? (process.stdout.isTTY ? "pretty" : "json") : (options.format ?? "json");
  if (format === "json") return pino(base);
  const colour = process.stdout.isTTY === true;
  return pino(base, { write: (line: string) => process.stdout.write(prettyLogLine(line, colour)) });
}
