import { AppError } from "./app-error";

/** No credentials, or credentials we do not know (or that were revoked). */
export class AuthenticationError extends AppError {
  readonly status = 401;
  readonly code = "invalid_api_key";
}
