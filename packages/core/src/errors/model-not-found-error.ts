import { AppError } from "./app-error";

/** The requested model is not served here; the message lists the ones that are. */
export class ModelNotFoundError extends AppError {
  readonly status = 404;
  readonly code = "model_not_found";
  constructor(model: string, available: readonly string[], param = "model") {
    super(`The model '${model}' does not exist. Available models: ${available.join(", ")}`, { param });
  }
}
