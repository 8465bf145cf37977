import pino, { type Logger as PinoLogger } from "pino";

export type { PinoLogger };

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
 * The process logger: JSON lines (pino), secrets redacted, level from LOG_LEVEL. It is a `Logger` of
 * @llmq/core (the interface libraries take), and a pino logger for what needs one (pino-http).
 */
export function createLogger(options: { name: string; level: string }): PinoLogger {
  return pino({ name: options.name, level: options.level, redact: { paths: REDACT_PATHS, censor: "[redacted]" } });
}
