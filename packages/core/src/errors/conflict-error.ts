import { AppError } from "./app-error";

/** The request cannot be applied to the resource in its current state. */
export class ConflictError extends AppError {
  readonly status = 409;
  readonly code: string;
  constructor(message: string, options: { param?: string | null; code?: string; retryAfterSeconds?: number } = {}) {
    super(message, options);
    this.code = options.code ?? "conflict";
  }
}
