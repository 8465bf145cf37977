import { AppError } from "./app-error";

/** The request is malformed or a field holds a value we do not accept. */
export class ValidationError extends AppError {
  readonly status = 400;
  readonly code: string;
  constructor(message: string, options: { param?: string | null; code?: string } = {}) {
    super(message, options);
    this.code = options.code ?? "invalid_request";
  }
}
