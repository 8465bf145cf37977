import http from "node:http";
import https from "node:https";
import { setTimeout as sleep } from "node:timers/promises";
import { type TargetAccess, type TargetPolicy, guardedLookup, literalTargetCheck } from "./target-policy";

/** What one POST to a receiver gave, as the caller may see it; `detail` is for our logs only. */
export interface SendResult {
  statusCode: number | null;
  /** Network failure, timeout or refusal; null when the receiver answered. Generic for private targets. */
  error: string | null;
  /** The failure as it happened (codes, addresses): for the worker's logs, never for the caller. */
  detail: string | null;
  /** The target is not allowed (policy): retrying cannot help. */
  refused: boolean;
  /** A short excerpt of a failing public target's answer (see responseExcerpt); null otherwise. */
  responseBody: string | null;
  /** From a Retry-After header (seconds or HTTP date), if any. */
  retryAfterMs: number | null;
  durationMs: number;
  /** The target resolved to a private (operator-allowed) address: nothing of it is shown beyond its status code. */
  privateTarget: boolean;
}

/**
 * Bytes kept of a failing public receiver's answer: enough to read "invalid signature", too little to
 * use our workers as a proxy that reads pages back.
 */
const EXCERPT_BYTES = 256;
/** Said of every failed exchange with a private target: which way it failed would map its ports. */
const PRIVATE_FAILURE = "no HTTP answer from the target";

// C0 and C1 control characters and DEL: an excerpt is shown in terminals and dashboards as text.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * What we keep of a public receiver's answer: for a non-2xx status, its first 256 bytes as text without
 * control characters (a character cut at the limit is dropped); nothing for a 2xx or an empty answer.
 * A success needs no debugging, and keeping less of what a target says keeps the service from being a
 * way to read other servers' pages.
 */
export function responseExcerpt(body: Buffer, statusCode: number): string | null {
  if ((statusCode >= 200 && statusCode < 300) || body.length === 0) return null;
  const text = new TextDecoder("utf-8").decode(body.subarray(0, EXCERPT_BYTES), { stream: true });
  return text.replace(CONTROL_CHARACTERS, " ");
}

function retryAfterMs(header: string | undefined): number | null {
  if (!header) return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? null : Math.max(0, date - Date.now());
}

function refusedResult(reason: string, privateTarget: boolean): SendResult {
  return { statusCode: null, error: reason, detail: reason, refused: true, responseBody: null, retryAfterMs: null, durationMs: 0, privateTarget };
}

/**
 * POSTs `body` to `url` with `headers`, without following redirects (a redirect could point inside the
 * network), connecting only to addresses and ports `policy` allows for a caller with `privateTargets`,
 * within `timeoutMs` for the whole exchange. For a private target nothing of its answer is read but its
 * status, and every failure without an HTTP answer is told the same way after the same time (the
 * timeout), so the delivery log cannot be used to tell closed ports from open ones.
 */
export async function postWebhook(options: { url: string; headers: Record<string, string>; body: string; timeoutMs: number; policy: TargetPolicy } & TargetAccess): Promise<SendResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const url = new URL(options.url);
  const literal = literalTargetCheck(url, options.policy, options);
  if (literal.refusal) return refusedResult(literal.refusal, literal.privateTarget);
  let privateTarget = literal.privateTarget;

  const result = await new Promise<SendResult>((resolve) => {
    const client = url.protocol === "https:" ? https : http;
    const request = client.request(
      url,
      {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": "llmq-webhooks/1", ...options.headers, "content-length": Buffer.byteLength(options.body) },
        lookup: guardedLookup(options.policy, options, () => (privateTarget = true)),
        // No keep-alive: a socket left open after a garbled answer would outlive the attempt.
        agent: false,
        signal: AbortSignal.timeout(options.timeoutMs),
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const answered = (): SendResult => ({
          statusCode: response.statusCode ?? null,
          error: null,
          detail: null,
          refused: false,
          responseBody: privateTarget || response.statusCode === undefined ? null : responseExcerpt(Buffer.concat(chunks), response.statusCode),
          retryAfterMs: retryAfterMs(response.headers["retry-after"]),
          durationMs: elapsed(),
          privateTarget,
        });
        // A private target's answer is not ours to read; a public one's only up to the excerpt.
        if (privateTarget) {
          resolve(answered());
          return void response.destroy();
        }
        response.on("data", (chunk: Buffer) => {
          if (size < EXCERPT_BYTES) chunks.push(chunk);
          size += chunk.length;
          if (size >= EXCERPT_BYTES) response.destroy();
        });
        const done = () => resolve(answered());
        response.on("end", done);
        response.on("close", done);
      },
    );
    request.on("error", (error: NodeJS.ErrnoException) => {
      request.destroy();
      const timedOut = error.name === "AbortError" || error.name === "TimeoutError";
      const message = timedOut ? `no answer within ${options.timeoutMs} ms` : error.message;
      resolve({
        statusCode: null,
        error: message,
        detail: error.code ? `${error.code}: ${error.message}` : message,
        refused: error.code === "ETARGETREFUSED",
        responseBody: null,
        retryAfterMs: null,
        durationMs: elapsed(),
        privateTarget,
      });
    });
    request.end(options.body);
  });

  if (!result.privateTarget || result.statusCode !== null || result.refused) return result;
  // Refused, reset, garbled or silent: all look alike, and all take the whole timeout.
  const remaining = options.timeoutMs - elapsed();
  if (remaining > 0) await sleep(remaining);
  return { ...result, error: `${PRIVATE_FAILURE} within ${options.timeoutMs} ms`, durationMs: options.timeoutMs };
}
