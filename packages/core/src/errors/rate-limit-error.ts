import { AppError } from "./app-error";

/** The caller sent more than its limit allows; `retryAfterSeconds` says when it may try again. */
export class RateLimitError extends AppError {
  readonly status = 429;
  readonly code: string;
  constructor(message: string, options: { retryAfterSeconds?: number | null; code?: string } = {}) {
    super(message, options);
    this.code = options.code ?? "rate_limit_exceeded";
  }
}
