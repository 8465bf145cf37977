import { AppError } from "./app-error";

/** Known caller, but not allowed: the route is reserved to the admin (`permission_denied`), or an admin stream's caller lost the role (`admin_role_revoked`). */
export class PermissionError extends AppError {
  readonly status = 403;
  readonly code: string;
  constructor(message: string, options: { param?: string | null; code?: string } = {}) {
    super(message, options);
    this.code = options.code ?? "permission_denied";
  }
}
