import pino, { type Logger } from "pino";

export type { Logger };

/** Paths whose values never reach the logs: keys, passwords, tokens, webhook secrets. */
const REDACT_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  "headers.authorization",
  "*.apiKey",
  "*.api_key",
  "*.password",
  "*.secret",
  "*.token",
  "apiKey",
  "password",
  "secret",
];

/** The process logger: JSON lines (pino), secrets redacted, level from LOG_LEVEL. */
export function createLogger(options: { name: string; level: string }): Logger {
  return pino({ name: options.name, level: options.level, redact: { paths: REDACT_PATHS, censor: "[redacted]" } });
}
