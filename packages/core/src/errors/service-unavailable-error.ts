import { AppError } from "./app-error";

/** A backing service (Postgres, Redis) cannot be reached, or a queue is full; the client should retry later. */
export class ServiceUnavailableError extends AppError {
  readonly status = 503;
  readonly code: string;
  constructor(message: string, options: { retryAfterSeconds?: number | null; code?: string; cause?: unknown } = {}) {
    super(message, options);
    this.code = options.code ?? "service_unavailable";
  }
}
