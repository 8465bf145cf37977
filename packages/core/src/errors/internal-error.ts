import { AppError } from "./app-error";

/** A bug or an unclassified failure: answered as a generic 500, logged with its stack. */
export class InternalError extends AppError {
  readonly status = 500;
  readonly code = "internal_error";
}
