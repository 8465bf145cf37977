import { AppError } from "./app-error";

/** Known caller, but the route is reserved to the admin. */
export class PermissionError extends AppError {
  readonly status = 403;
  readonly code = "permission_denied";
}
