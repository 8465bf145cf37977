import { Agent, type Dispatcher, interceptors } from "undici";

/** A response body as undici.request gives it: a Node Readable of Buffers that can also be dumped. */
export type UpstreamBody = Dispatcher.ResponseData["body"];

/**
 * Bytes of a non-2xx answer read for its error message. An OpenAI, vLLM or Ollama error body is a few
 * hundred bytes; a proxy's HTML page or an endless body is cut here rather than held in memory.
 */
export const ERROR_BODY_LIMIT = 64 * 1024;

/**
 * What may still come after `[DONE]` (normally only the chunked-encoding terminator), and how long it may
 * take, before the socket is closed rather than given back to the pool.
 */
const DRAIN_LIMIT = 16 * 1024;
const DRAIN_MS = 1000;

/** Redirects fetch followed for us (the same limit as fetch's); a 307/308 keeps the POST and its body. */
const MAX_REDIRECTIONS = 20;

/**
 * The connection pool of one provider: keep-alive sockets to its upstream, at most `connections` at once
 * (null: as many as requests in flight).
 */
export function upstreamAgent(connections: number | null): Dispatcher {
  return new Agent({
    connections,
    // Our StallTimer owns both waits (timeout_ms, idle_timeout_ms). undici's own 300 s limits would cut a
    // stream configured to wait longer, and its body timeout counts a slow consumer's pause as silence.
    headersTimeout: 0,
    bodyTimeout: 0,
  }).compose(interceptors.redirect({ maxRedirections: MAX_REDIRECTIONS }));
}

/**
 * A body's bytes until its end, or until more than `limit` of them are in (`past`): the rest is not read.
 * Leaving the loop early destroys the body, which closes a socket that still had more to send.
 */
async function readUpTo(body: UpstreamBody, limit: number): Promise<{ bytes: Buffer; past: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size > limit) break;
  }
  return { bytes: Buffer.concat(chunks, size), past: size > limit };
}

/** The body of a non-2xx answer as text, at most `limit` bytes of it; the rest is not read. */
export async function readErrorBody(body: UpstreamBody, limit: number = ERROR_BODY_LIMIT): Promise<string> {
  const { bytes } = await readUpTo(body, limit);
  // A character cut at the limit decodes as U+FFFD.
  return new TextDecoder().decode(bytes.subarray(0, limit));
}

/** Most bytes of a whole (non-streamed) answer: 4,096 tokens of text are far fewer; more is not an answer. */
export const ANSWER_BODY_LIMIT = 8 * 1024 * 1024;

/** A whole answer's body as text, or null when it is longer than `limit` (the rest is not read; the socket is closed). */
export async function readAnswerBody(body: UpstreamBody, limit: number = ANSWER_BODY_LIMIT): Promise<string | null> {
  const { bytes, past } = await readUpTo(body, limit);
  return past ? null : new TextDecoder().decode(bytes);
}

/**
 * Lets go of a response body. A stream that was read to its end (`[DONE]` or a finish) gives its socket
 * back to the pool after reading what little is left, and settles once it has (so the next request finds
 * the socket free instead of opening another); one cut short (the consumer stopped, a stall, an error)
 * closes the socket, which is what tells the upstream to stop generating. Never rejects.
 */
export async function releaseBody(body: UpstreamBody, completed: boolean): Promise<void> {
  if (body.destroyed || body.readableEnded) return;
  // Destroying an unfinished body emits an abort error that nobody is left to read.
  body.on("error", ignore);
  if (!completed) {
    body.destroy();
    return;
  }
  const timer = setTimeout(() => body.destroy(), DRAIN_MS);
  // Without a signal dump() settles when the body closes: drained, past the limit, or destroyed above.
  await body.dump({ limit: DRAIN_LIMIT }).catch(ignore);
  clearTimeout(timer);
}

function ignore(): void {}
