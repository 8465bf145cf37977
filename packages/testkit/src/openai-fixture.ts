/**
 * A real HTTP server speaking OpenAI's chat-completions protocol, standing in for an upstream LLM in tests.
 *
 * Endpoints: `POST /v1/chat/completions` (streamed when `stream: true`, with a usage chunk when
 * `stream_options.include_usage`), `POST /v1/responses` (OpenAI's Responses API, streamed only: its
 * event names and shapes, see fixture-responses.ts; answered like the chat completion its body maps to)
 * and `GET /v1/models`. By default it answers "Echo: <last user message>"
 * split into word tokens, honouring `max_tokens` (finish_reason "length") and `stop`; when the request
 * offers `tools` it calls the first one with arguments "{}" (finish_reason "tool_calls").
 *
 * Misbehaviour (`FixtureBehaviour`: delays, error statuses, stalls, resets, broken frames, ...) comes from
 * two places, merged per request with the marker winning:
 * - `setBehaviour(b)`: server-wide; replaces the previous behaviour and restarts the `failFirst` count.
 * - a marker in the last user message, `[[fixture:key=value,...]]`, e.g. `[[fixture:status=429,retryAfter=2]]`.
 *   Markers travel through the whole stack (API -> queue -> worker), where a test cannot reach the fixture
 *   per task. The marker is stripped from the echo; `failFirst` then counts requests with the same message.
 *   Unknown keys or ill-typed values are answered with a 400, so typos do not pass silently.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { errorResponse, type FixtureBehaviour, parseMarker } from "./fixture-behaviour";
import { type Connection, contentText, planCompletion, usageOf, writeJson, writeStream } from "./fixture-completion";
import { chatBodyOfResponses, writeResponsesStream } from "./fixture-responses";

export type { FixtureBehaviour } from "./fixture-behaviour";

/** One request the fixture received, body parsed as JSON when it was JSON. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
  /** When it arrived (Date.now(), ms). */
  at: number;
  /** The status it was answered with (a completion: 200, or the error status it misbehaved with); null until decided. */
  status: number | null;
  /** A completion's prompt + completion tokens as its usage reports them (what an upstream bills); null for errors. */
  totalTokens: number | null;
}

export interface OpenAIFixtureOptions {
  /** Server-wide behaviour to start with. */
  behaviour?: FixtureBehaviour;
  /** Model ids listed by GET /v1/models. */
  models?: string[];
}

export interface OpenAIFixture {
  /** Base URL ending in /v1, as a provider's `base_url`. */
  url: string;
  /** Every request received, in order. */
  requests: RecordedRequest[];
  /** Replaces the server-wide behaviour and restarts the `failFirst` count. */
  setBehaviour(behaviour: FixtureBehaviour): void;
  /** TCP connections currently open (keep-alive ones included). */
  activeConnections(): number;
  /** TCP connections accepted since the start: fewer than requests when clients reuse them. */
  acceptedConnections(): number;
  /** Requests whose client disconnected before the fixture finished answering. */
  abortedRequests(): number;
  /** Completion requests being answered right now. */
  inFlight(): number;
  /** The most completion requests answered at once since the start (or the last `resetMaxInFlight`). */
  maxInFlight(): number;
  resetMaxInFlight(): void;
  /** Stops the server and drops every connection; safe to call twice. */
  close(): Promise<void>;
}

/** Starts the fixture on 127.0.0.1 on a free port. */
export async function startOpenAIFixture(options: OpenAIFixtureOptions = {}): Promise<OpenAIFixture> {
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const failures = new Map<string, number>();
  const models = options.models ?? ["fixture-model"];
  let behaviour: FixtureBehaviour = options.behaviour ?? {};
  let aborted = 0;
  let accepted = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let shuttingDown = false;
  let closing: Promise<void> | null = null;

  /** `api`: which protocol the answer is written in; a Responses API body comes mapped to a chat one. */
  async function completions(req: IncomingMessage, res: ServerResponse, body: unknown, record: RecordedRequest, api: "chat" | "responses" = "chat"): Promise<void> {
    if (typeof body !== "object" || body === null || !Array.isArray((body as { messages?: unknown }).messages)) {
      return sendError(res, 400, "messages must be an array");
    }
    const request = body as Record<string, unknown> & { messages: Array<{ role?: unknown; content?: unknown }> };
    const lastUser = [...request.messages].reverse().find((m) => m?.role === "user");
    let marker: ReturnType<typeof parseMarker>;
    try {
      marker = parseMarker(contentText(lastUser?.content));
    } catch (error) {
      return sendError(res, 400, (error as Error).message);
    }
    const effective: FixtureBehaviour = { ...behaviour, ...marker.behaviour };
    const key = marker.behaviour ? `marker:${contentText(lastUser?.content)}` : "server";
    const seen = (failures.get(key) ?? 0) + 1;
    failures.set(key, seen);
    const fails =
      effective.failFirst !== undefined ? seen <= effective.failFirst : effective.status !== undefined || effective.insufficientQuota === true;
    if (fails) {
      const answer = errorResponse(effective);
      record.status = answer.status;
      res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
      return void res.end(JSON.stringify(answer.body));
    }

    let closed = false;
    let cutByUs = false;
    // Pending delays end when the connection does, so no timer outlives a test.
    const sleepers = new Set<() => void>();
    res.on("close", () => {
      closed = true;
      if (!res.writableFinished && !cutByUs && !shuttingDown) aborted++;
      for (const wake of sleepers) wake();
    });
    const connection: Connection = {
      closed: () => closed,
      sleep: (ms) =>
        new Promise<boolean>((resolve) => {
          const wake = (): void => {
            clearTimeout(timer);
            sleepers.delete(wake);
            resolve(!closed);
          };
          const timer = setTimeout(wake, ms);
          sleepers.add(wake);
          if (closed) wake();
        }),
      reset: () => {
        cutByUs = true;
        req.socket.resetAndDestroy();
      },
    };
    const plan = planCompletion(request, effective.reply ?? `Echo: ${marker.text}`);
    record.status = 200;
    record.totalTokens = usageOf(plan).total_tokens;
    if (api === "responses") return writeResponsesStream(res, plan, effective, connection);
    await (plan.stream ? writeStream(res, plan, effective, connection) : writeJson(res, plan, effective, connection));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    let body: unknown = raw;
    try {
      body = raw === "" ? null : JSON.parse(raw);
    } catch {
      // Recorded as text; the route below rejects it.
    }
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const record: RecordedRequest = { method: req.method ?? "GET", path, headers: req.headers, body, at: Date.now(), status: null, totalTokens: null };
    requests.push(record);
    if (req.method === "GET" && path === "/v1/models") {
      const data = models.map((id) => ({ id, object: "model", created: 0, owned_by: "llmq-fixture" }));
      return sendJson(res, 200, { object: "list", data });
    }
    if (req.method === "POST" && path === "/v1/chat/completions") {
      if (typeof body === "string") return sendError(res, 400, "body is not valid JSON");
      // Counted from the request until its answer ends or its client leaves.
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      res.once("close", () => inFlight--);
      return completions(req, res, body, record);
    }
    if (req.method === "POST" && path === "/v1/responses") {
      if (typeof body !== "object" || body === null) return sendError(res, 400, "body is not a JSON object");
      if ((body as { stream?: unknown }).stream !== true) return sendError(res, 400, "the fixture answers /v1/responses streamed only (stream: true)");
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      res.once("close", () => inFlight--);
      return completions(req, res, chatBodyOfResponses(body as Record<string, unknown>), record, "responses");
    }
    return sendError(res, 404, `no route for ${req.method} ${path}`);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) res.destroy();
      else sendError(res, 500, `fixture bug: ${(error as Error).message}`);
    });
  });
  server.on("connection", (socket) => {
    accepted++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    setBehaviour(next) {
      behaviour = next;
      failures.clear();
    },
    activeConnections: () => sockets.size,
    acceptedConnections: () => accepted,
    abortedRequests: () => aborted,
    inFlight: () => inFlight,
    maxInFlight: () => maxInFlight,
    resetMaxInFlight: () => {
      maxInFlight = inFlight;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        shuttingDown = true;
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

function sendError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { error: { message, type: "invalid_request_error", param: null, code: null } });
}
