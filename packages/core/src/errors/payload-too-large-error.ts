import { AppError } from "./app-error";

/** The request body exceeds the configured limit, or what its sender may still store. */
export class PayloadTooLargeError extends AppError {
  readonly status = 413;
  readonly code: string;
  constructor(message: string, options: { param?: string | null; code?: string } = {}) {
    super(message, options);
    this.code = options.code ?? "payload_too_large";
  }
}
