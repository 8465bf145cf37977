import { AppError } from "./app-error";

/** The resource does not exist, or belongs to someone else (never confirm existence across tenants). */
export class NotFoundError extends AppError {
  readonly status = 404;
  readonly code: string;
  constructor(message: string, options: { param?: string | null; code?: string } = {}) {
    super(message, options);
    this.code = options.code ?? "not_found";
  }
}
