import { truncate } from "../zod-format";

/** Longest message an error keeps: messages may quote a caller's input, and they are answered and logged. */
export const MAX_ERROR_MESSAGE_CHARS = 2_048;

/** Base of every expected error: carries the HTTP status and a stable machine-readable code; its message is bounded. */
export abstract class AppError extends Error {
  abstract readonly status: number;
  abstract readonly code: string;
  /** The request field the error is about, when there is one (OpenAI's `param`). */
  readonly param: string | null;
  /** Seconds a client should wait before retrying (sent as Retry-After). */
  readonly retryAfterSeconds: number | null;

  constructor(message: string, options: { param?: string | null; retryAfterSeconds?: number | null; cause?: unknown } = {}) {
    super(truncate(message, MAX_ERROR_MESSAGE_CHARS), { cause: options.cause });
    this.name = new.target.name;
    this.param = options.param ?? null;
    this.retryAfterSeconds = options.retryAfterSeconds ?? null;
  }
}
