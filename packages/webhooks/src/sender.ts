import http from "node:http";
import https from "node:https";
import { type TargetPolicy, guardedLookup, literalTargetRefusal } from "./target-policy";

/** What one POST to a receiver gave. */
export interface SendResult {
  statusCode: number | null;
  /** Network failure, timeout or refusal; null when the receiver answered. */
  error: string | null;
  /** The target is not allowed (policy): retrying cannot help. */
  refused: boolean;
  /** The first KiB of the answer. */
  responseBody: string | null;
  /** From a Retry-After header (seconds or HTTP date), if any. */
  retryAfterMs: number | null;
  durationMs: number;
}

const RESPONSE_BODY_LIMIT = 1024;

function retryAfterMs(header: string | undefined): number | null {
  if (!header) return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? null : Math.max(0, date - Date.now());
}

/**
 * POSTs `body` to `url` with `headers`, without following redirects (a redirect could point inside the
 * network), connecting only to addresses `policy` allows, within `timeoutMs` for the whole exchange.
 */
export function postWebhook(options: { url: string; headers: Record<string, string>; body: string; timeoutMs: number; policy: TargetPolicy }): Promise<SendResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const url = new URL(options.url);
  const refusal = literalTargetRefusal(url, options.policy);
  if (refusal) return Promise.resolve({ statusCode: null, error: refusal, refused: true, responseBody: null, retryAfterMs: null, durationMs: 0 });

  return new Promise((resolve) => {
    const client = url.protocol === "https:" ? https : http;
    const request = client.request(
      url,
      {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": "llmq-webhooks/1", ...options.headers, "content-length": Buffer.byteLength(options.body) },
        lookup: guardedLookup(options.policy),
        signal: AbortSignal.timeout(options.timeoutMs),
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on("data", (chunk: Buffer) => {
          if (size < RESPONSE_BODY_LIMIT) chunks.push(chunk);
          size += chunk.length;
          // Enough read to show the receiver's answer; the rest is not our business.
          if (size >= RESPONSE_BODY_LIMIT) response.destroy();
        });
        const done = () =>
          resolve({
            statusCode: response.statusCode ?? null,
            error: null,
            refused: false,
            responseBody: Buffer.concat(chunks).subarray(0, RESPONSE_BODY_LIMIT).toString("utf8"),
            retryAfterMs: retryAfterMs(response.headers["retry-after"]),
            durationMs: elapsed(),
          });
        response.on("end", done);
        response.on("close", done);
      },
    );
    request.on("error", (error: NodeJS.ErrnoException) => {
      const timedOut = error.name === "AbortError" || error.name === "TimeoutError";
      resolve({
        statusCode: null,
        error: timedOut ? `no answer within ${options.timeoutMs} ms` : error.message,
        refused: error.code === "ETARGETREFUSED",
        responseBody: null,
        retryAfterMs: null,
        durationMs: elapsed(),
      });
    });
    request.end(options.body);
  });
}
