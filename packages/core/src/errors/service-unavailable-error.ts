import { AppError } from "./app-error";

/** A backing service (Postgres, Redis) cannot be reached; the client should retry later. */
export class ServiceUnavailableError extends AppError {
  readonly status = 503;
  readonly code = "service_unavailable";
}
