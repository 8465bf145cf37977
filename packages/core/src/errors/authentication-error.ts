import { AppError } from "./app-error";

/**
 * No credentials, or credentials we do not know (or that were revoked or expired). `code` tells which:
 * `invalid_api_key` (default), `invalid_access_token`, `access_token_expired`, `invalid_credentials`,
 * `invalid_refresh_token`, `refresh_token_reused`; and, ending an open stream, `api_key_revoked`,
 * `account_deleted`.
 */
export class AuthenticationError extends AppError {
  readonly status = 401;
  readonly code: string;
  constructor(message: string, options: { param?: string | null; code?: string } = {}) {
    super(message, options);
    this.code = options.code ?? "invalid_api_key";
  }
}
