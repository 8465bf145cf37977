/** How the OpenAI fixture misbehaves; every field is optional and the default is a well-behaved server. */
export interface FixtureBehaviour {
  /** Wait before the first frame (headers go out at once). */
  firstTokenDelayMs?: number;
  /** Wait between tokens. */
  tokenDelayMs?: number;
  /** Answer with this HTTP status and an OpenAI error body instead of a completion. */
  status?: number;
  /** Overrides for the error body sent with `status`. */
  errorMessage?: string;
  errorType?: string;
  errorCode?: string;
  /** `Retry-After` header value sent with an error status (seconds or an HTTP date). */
  retryAfter?: string;
  /** `retry-after-ms` header value sent with an error status. */
  retryAfterMs?: number;
  /** Answer 429 with OpenAI's `insufficient_quota` error. */
  insufficientQuota?: boolean;
  /** Fail only the first K requests (with `status`, default 500), then answer normally. */
  failFirst?: number;
  /** After N tokens (or all, if fewer) stop writing but keep the connection open. */
  stallAfterTokens?: number;
  /** After N tokens reset the TCP connection. */
  resetAfterTokens?: number;
  /** After N tokens end the response cleanly, with no finish_reason and no [DONE]. */
  endAfterTokens?: number;
  /** After N tokens send a frame that is not JSON, then end. */
  malformedAfterTokens?: number;
  /** After N tokens send an `{"error": ...}` frame, then end. */
  errorFrameAfterTokens?: number;
  /** Leave out the final `data: [DONE]` (the finish_reason frame is still sent). */
  omitDone?: boolean;
  /** Reply with this text instead of "Echo: <last user message>". */
  reply?: string;
  /** End SSE lines with CRLF instead of LF. */
  crlf?: boolean;
  /** Send an SSE comment line (`: ...`) before every frame. */
  comments?: boolean;
  /** Write the stream this many bytes at a time, pausing between writes, so frames (and characters) cross TCP chunks. */
  splitFrames?: number;
  /** Pad every chunk object with a field of this many characters: very long SSE lines. */
  framePadding?: number;
}

type FieldType = "number" | "boolean" | "string";

const FIELD_TYPES: Record<keyof FixtureBehaviour, FieldType> = {
  firstTokenDelayMs: "number",
  tokenDelayMs: "number",
  status: "number",
  errorMessage: "string",
  errorType: "string",
  errorCode: "string",
  retryAfter: "string",
  retryAfterMs: "number",
  insufficientQuota: "boolean",
  failFirst: "number",
  stallAfterTokens: "number",
  resetAfterTokens: "number",
  endAfterTokens: "number",
  malformedAfterTokens: "number",
  errorFrameAfterTokens: "number",
  omitDone: "boolean",
  reply: "string",
  crlf: "boolean",
  comments: "boolean",
  splitFrames: "number",
  framePadding: "number",
};

const MARKER = /\[\[fixture:([^\]]*)\]\]/;

/** Finds `[[fixture:key=value,...]]` in a message; returns the behaviour it asks for and the text without it. */
export function parseMarker(text: string): { behaviour: FixtureBehaviour | null; text: string } {
  const match = MARKER.exec(text);
  if (!match) return { behaviour: null, text };
  const behaviour: Record<string, unknown> = {};
  for (const pair of (match[1] ?? "").split(",").filter((part) => part.trim() !== "")) {
    const [rawKey = "", ...rest] = pair.split("=");
    const key = rawKey.trim();
    const value = rest.join("=").trim();
    behaviour[key] = convert(key, value);
  }
  return { behaviour: behaviour as FixtureBehaviour, text: text.replace(MARKER, "").trim() };
}

function convert(key: string, value: string): unknown {
  const type = (FIELD_TYPES as Record<string, FieldType | undefined>)[key];
  if (!type) throw new Error(`unknown fixture behaviour '${key}' (known: ${Object.keys(FIELD_TYPES).join(", ")})`);
  if (type === "string") return value;
  if (type === "boolean") {
    if (value === "" || value === "true") return true;
    if (value === "false") return false;
  }
  if (type === "number" && /^\d+(\.\d+)?$/.test(value)) return Number(value);
  throw new Error(`fixture behaviour '${key}' needs a ${type}, got '${value}'`);
}

/** The OpenAI error body, extra headers and status a failing behaviour answers with. */
export function errorResponse(behaviour: FixtureBehaviour): { status: number; headers: Record<string, string>; body: unknown } {
  const status = behaviour.insufficientQuota ? 429 : (behaviour.status ?? 500);
  const headers: Record<string, string> = {};
  if (behaviour.retryAfter !== undefined) headers["retry-after"] = behaviour.retryAfter;
  if (behaviour.retryAfterMs !== undefined) headers["retry-after-ms"] = String(behaviour.retryAfterMs);
  const defaults = behaviour.insufficientQuota
    ? { message: "You exceeded your current quota, please check your plan and billing details.", type: "insufficient_quota", code: "insufficient_quota" }
    : defaultError(status);
  const error = {
    message: behaviour.errorMessage ?? defaults.message,
    type: behaviour.errorType ?? defaults.type,
    param: null,
    code: behaviour.errorCode ?? defaults.code,
  };
  return { status, headers, body: { error } };
}

function defaultError(status: number): { message: string; type: string; code: string | null } {
  if (status === 429) return { message: "Rate limit reached for requests", type: "requests", code: "rate_limit_exceeded" };
  if (status === 401) return { message: "Incorrect API key provided.", type: "invalid_request_error", code: "invalid_api_key" };
  if (status >= 400 && status < 500) return { message: `fixture rejected the request (${status})`, type: "invalid_request_error", code: null };
  return { message: `fixture failed on purpose (${status})`, type: "server_error", code: null };
}
