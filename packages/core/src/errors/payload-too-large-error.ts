import { AppError } from "./app-error";

/** The request body exceeds the configured limit. */
export class PayloadTooLargeError extends AppError {
  readonly status = 413;
  readonly code = "payload_too_large";
}
