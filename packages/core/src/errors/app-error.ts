/** Base of every expected error: carries the HTTP status and a stable machine-readable code. */
export abstract class AppError extends Error {
  abstract readonly status: number;
  abstract readonly code: string;
  /** The request field the error is about, when there is one (OpenAI's `param`). */
  readonly param: string | null;
  /** Seconds a client should wait before retrying (sent as Retry-After). */
  readonly retryAfterSeconds: number | null;

  constructor(message: string, options: { param?: string | null; retryAfterSeconds?: number | null; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.param = options.param ?? null;
    this.retryAfterSeconds = options.retryAfterSeconds ?? null;
  }
}
