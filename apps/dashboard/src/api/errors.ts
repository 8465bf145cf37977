/** A refused API call, with the API's own code and message (Flexstack envelope or OAuth-style body). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

interface ErrorBody {
  errors?: { code?: string; message?: string }[];
  error_description?: string;
  error?: { code?: string; message?: string } | string;
}

/** The ApiError a non-OK response stands for, whatever the dialect of its body. */
export async function apiErrorOf(response: Response): Promise<ApiError> {
  let body: ErrorBody | null = null;
  try {
    body = (await response.json()) as ErrorBody;
  } catch {
    body = null;
  }
  const first = body?.errors?.[0];
  const openai = typeof body?.error === "object" ? body.error : undefined;
  const code = first?.code ?? openai?.code ?? (typeof body?.error === "string" ? body.error : `http_${response.status}`);
  const message = first?.message ?? openai?.message ?? body?.error_description ?? `${response.status} ${response.statusText}`;
  return new ApiError(response.status, code, message);
}
