/** One log level's method, pino's calling convention: an object of fields and a message, or a message. */
export interface LogFn {
  (fields: object, message?: string): void;
  (message: string): void;
}

/**
 * What libraries log through. The process's logger (pino, from @llmq/config's `createLogger`) is one;
 * core itself knows no logging library, so it stays safe for a browser.
 */
export interface Logger {
  level: string;
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
  child(bindings: Record<string, unknown>): Logger;
}
