import { AppError } from "./app-error";

/** An Idempotency-Key sent again with a different request (method, path or body): 422, as the IETF draft says. */
export class IdempotencyKeyReusedError extends AppError {
  readonly status = 422;
  readonly code = "idempotency_key_reused";
  constructor(message: string) {
    super(message, { param: "Idempotency-Key" });
  }
}
