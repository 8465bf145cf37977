import { brotliCompressSync, deflateSync, gzipSync } from "node:zlib";
import fc from "fast-check";
import { json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import { buildOpenApiDocument } from "../src/openapi/document";

// Random and malformed requests to every route of the OpenAPI document, in both dialects. Seeded:
// a failure prints its seed and path, and FUZZ_SEED / FUZZ_RUNS replay or widen a run.
const SEED = Number(process.env.FUZZ_SEED ?? 20261122);
const RUNS = Number(process.env.FUZZ_RUNS ?? 2500);

let stack: TestStack;
let tenantKey: string;
let casesRun = 0;
const statuses = new Map<number, number>();

interface Route {
  method: string;
  path: string;
}
const ROUTES: Route[] = [];
for (const [path, item] of Object.entries(buildOpenApiDocument().paths ?? {})) {
  for (const method of ["get", "post", "delete"]) if ((item as Record<string, unknown>)[method]) ROUTES.push({ method: method.toUpperCase(), path });
}

/** A body each creating route would accept; the fuzzer breaks it (so it never creates anything). */
const VALID_BODIES: Record<string, Record<string, unknown>> = {
  "/v1/ai/text_completion": { messages: [{ role: "user", content: "hi" }], configs: { model: "gemma-7b", max_tokens: 4 } },
  "/v1/ai/batches": { requests: [{ messages: [{ role: "user", content: "hi" }], configs: { model: "gemma-7b", max_tokens: 4 } }] },
  "/v1/admin/keys": { name: "fuzz" },
  "/v1/chat/completions": { model: "gemma-7b", messages: [{ role: "user", content: "hi" }] },
  "/v1/completions": { model: "gemma-7b", prompt: "hi" },
  "/v1/batches": { input_file_id: "file-0123456789abcdef0123456789abcdef", endpoint: "/v1/chat/completions", completion_window: "24h" },
};
/** Routes that act on their authentication alone: fuzzed only with bad credentials. */
const ACTS_ON_KEY_ALONE = new Set(["POST /v1/ai/webhooks/secret/rotate", "POST /ai/webhooks/secret/rotate"]);

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 60 });
const nasty = fc.constantFrom("", " ", "null", "undefined", "-1", "0", "1e309", "NaN", "true", "[]", "{}", "%", "%zz", "%00", "..", "../..", "💥", "\u0000", "a".repeat(300), "__proto__", "constructor");
const text = fc.oneof(printable, nasty, fc.string({ maxLength: 40 }));
const hex32 = fc.stringMatching(/^[0-9a-f]{32}$/);

/** A path parameter: random text, or an id of the right shape that names nothing. */
const pathParam = fc.oneof(
  text.map((value) => (value === "" ? "x" : encodeURIComponent(value))),
  nasty.filter((v) => v !== "" && !v.includes("/")),
  hex32,
  hex32.map((h) => `file-${h}`),
  hex32.map((h) => `file-batch-${h}-output`),
  hex32.map((h) => `batch_${h}`),
  hex32.map((h) => `chatcmpl-${h}`),
  fc.uuid(),
);

const badValue = fc.oneof(
  // Wrong in type for every field of VALID_BODIES (a long string or null could be a valid prompt or configs).
  fc.constantFrom<unknown>(42, -1, 1e308, true, [[[]]], { $gt: "" }, ["a", 1, null], { __proto__: { admin: true } }),
  fc.string({ maxLength: 20 }).map((s) => ({ nested: s })),
);

/** A body that is not acceptable: not JSON, not an object, random keys, or a valid body with one field broken. */
function badBody(path: string) {
  const valid = VALID_BODIES[path];
  const options: fc.Arbitrary<string>[] = [
    text.filter((t) => {
      try {
        JSON.parse(t);
        return false;
      } catch {
        return true;
      }
    }),
    fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.array(fc.jsonValue(), { maxLength: 3 })).map((v) => JSON.stringify(v)),
    fc.dictionary(text, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }).map((v) => JSON.stringify(v)),
    fc.constant('{"a":'.repeat(400)),
  ];
  if (valid) {
    const keys = Object.keys(valid);
    options.push(fc.tuple(fc.constantFrom(...keys), badValue).map(([key, value]) => JSON.stringify({ ...valid, [key]: value })));
    options.push(fc.tuple(text, fc.jsonValue({ maxDepth: 1 })).filter(([k]) => !(k in valid)).map(([key, value]) => JSON.stringify({ ...valid, [key]: value, messages: "not a list", model: 7, name: [], requests: {}, input_file_id: 1 })));
  }
  return fc.oneof(...options);
}

// Mostly valid keys, so most requests get past authentication to the parsing and validation behind it.
const authorization = fc.oneof(
  { arbitrary: fc.constant<"admin" | "tenant" | string | undefined>("admin"), weight: 4 },
  { arbitrary: fc.constant<"admin" | "tenant" | string | undefined>("tenant"), weight: 4 },
  fc.constant(undefined),
  printable,
  fc.constantFrom("Bearer", "Bearer ", "Basic YWRtaW46YWRtaW4=", "bearer llmq_", "Bearer llmq_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "Bearer a b"),
);
const contentType = fc.oneof(
  fc.constantFrom("application/json", "application/json; charset=utf-8", "application/json; charset=utf-16", "application/json; charset=bogus", "text/plain"),
  fc.constantFrom("multipart/form-data", "multipart/form-data; boundary=xyz", "application/x-www-form-urlencoded", "application/jsonl", "*/*"),
  printable,
  fc.constant(undefined),
);
const optionalHeader = fc.option(fc.oneof(printable, nasty.filter((v) => /^[\x20-\x7e]*$/.test(v))), { nil: undefined }); // header values are visible ASCII on the wire
/** Any instant a JavaScript date can hold, as ISO 8601: years far outside 0001-9999 included. */
const anyInstant = fc.integer({ min: -8.64e15, max: 8.64e15 }).map((ms) => new Date(ms).toISOString());
const dateLike = fc.oneof(
  anyInstant,
  fc.constantFrom("0000-01-01T00:00:00Z", "-000001-01-01T00:00:00Z", "+275760-09-13T00:00:00Z", "+010000-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"),
);
/** Shapes the API issues as opaque positions: history cursors (`<iso>|<id>`, base64url) and file ids (a time in hex, then random). */
const positionLike = fc.oneof(
  fc.tuple(anyInstant, hex32).map(([iso, id]) => Buffer.from(`${iso}|${id}`).toString("base64url")),
  fc.stringMatching(/^file-[0-9a-f]{32}$/),
  fc.constantFrom(`file-${"f".repeat(32)}`, `file-${"0".repeat(32)}`),
);
const query = fc.array(
  fc.tuple(
    fc.oneof(fc.constantFrom("async", "stream", "wait", "limit", "cursor", "after", "status", "model", "batch_id", "task_id", "purpose", "order", "created_from", "created_to", "a[]", "a[b]"), text),
    fc.oneof(text, nasty, dateLike, positionLike),
  ),
  { maxLength: 4 },
);
/** A Content-Encoding, and whether the body really is encoded with it (a gzip header on plain JSON is a classic). */
const encoding = fc.option(
  fc.record({ name: fc.constantFrom("gzip", "deflate", "br", "identity", "x-gzip", "compress", "zstd", "gzip, gzip", "GZIP", "bogus"), encoded: fc.boolean() }),
  { nil: undefined, freq: 3 },
);
const ENCODERS: Record<string, (body: Buffer) => Buffer> = { gzip: gzipSync, "x-gzip": gzipSync, GZIP: gzipSync, deflate: deflateSync, br: brotliCompressSync };

const requestArb = fc.constantFrom(...ROUTES).chain((route) =>
  fc.record({
    route: fc.constant(route),
    params: fc.array(pathParam, { minLength: 3, maxLength: 3 }),
    body: fc.option(badBody(route.path), { nil: undefined, freq: 4 }),
    authorization,
    contentType,
    idempotencyKey: optionalHeader,
    lastEventId: optionalHeader,
    prefer: fc.option(fc.oneof(fc.constantFrom("respond-async", "respond-async, wait=5", "wait=-1", "handling=strict"), printable), { nil: undefined }),
    query,
    encoding,
  }),
);
type FuzzRequest = typeof requestArb extends fc.Arbitrary<infer T> ? T : never;

/** Row counts and Redis keys: what "nothing written" is measured against. */
async function snapshot() {
  const db = stack.api.deps.db;
  const rows = await db.$queryRaw<{ name: string; count: bigint }[]>`
    SELECT 'tasks' AS name, count(*) FROM tasks UNION ALL SELECT 'batches', count(*) FROM batches
    UNION ALL SELECT 'files', count(*) FROM files UNION ALL SELECT 'webhook_deliveries', count(*) FROM webhook_deliveries
    UNION ALL SELECT 'api_keys', count(*) FROM api_keys`;
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, found] = await stack.api.deps.redis.scan(cursor, "MATCH", `${stack.env.REDIS_PREFIX}*`, "COUNT", 1000);
    cursor = next;
    keys.push(...found);
  } while (cursor !== "0");
  return { rows: Object.fromEntries(rows.map((r) => [r.name, Number(r.count)])), redisKeys: keys.sort() };
}

beforeAll(async () => {
  // Rate limits count attempts in Redis, bad ones too: off here, where "nothing written" is measured.
  stack = await startTestStack({ worker: false, env: { RATE_LIMIT_PER_MINUTE: "0", FILES_UPLOADS_PER_MINUTE: "0", WAIT_DEFAULT_SECONDS: "1" } });
  const created = await stack.request("/v1/admin/keys", { method: "POST", json: { name: "fuzzed tenant" } });
  tenantKey = (await json(created)).data.data.key;
  // Webhook secrets are made on first read: make them now so the fuzzer's reads write nothing.
  for (const key of [stack.adminKey, tenantKey]) expect((await stack.request("/v1/ai/webhooks/secret", { key })).status).toBe(200);
});
afterAll(async () => {
  const summary = [...statuses.entries()].sort(([a], [b]) => a - b).map(([status, count]) => `${status}×${count}`).join(" ");
  console.log(`fuzz: ${casesRun} requests over ${ROUTES.length} routes (seed ${SEED}): ${summary}`);
  await stack?.close();
});

function urlOf(request: FuzzRequest): string {
  let i = 0;
  const path = request.route.path.replace(/\{\w+\}/g, () => request.params[i++]!);
  const search = request.query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&");
  return `${stack.url}${path}${search ? `?${search}` : ""}`;
}

function headersOf(request: FuzzRequest): Record<string, string> {
  const headers: Record<string, string> = {};
  const auth = request.authorization;
  if (auth === "admin") headers.authorization = `Bearer ${stack.adminKey}`;
  else if (auth === "tenant") headers.authorization = `Bearer ${tenantKey}`;
  else if (auth !== undefined) headers.authorization = auth;
  if (request.contentType !== undefined) headers["content-type"] = request.contentType;
  if (request.idempotencyKey !== undefined) headers["idempotency-key"] = request.idempotencyKey;
  if (request.lastEventId !== undefined) headers["last-event-id"] = request.lastEventId;
  if (request.prefer !== undefined) headers.prefer = request.prefer;
  return headers;
}

function dialectOf(path: string): "flexstack" | "openai" | null {
  if (["/ai/", "/v1/ai", "/v1/admin", "/v1/auth", "/v1/users", "/metrics"].some((prefix) => path.startsWith(prefix))) return "flexstack";
  return path.startsWith("/v1/") ? "openai" : null;
}

async function send(request: FuzzRequest) {
  const { route } = request;
  const key = `${route.method} ${route.path}`;
  const headers = headersOf(request);
  if (ACTS_ON_KEY_ALONE.has(key) && (request.authorization === "admin" || request.authorization === "tenant")) headers.authorization = "Bearer not-a-key";
  // A well-formed creating request could succeed; the fuzzer only ever sends broken ones to those routes.
  const mayCreate = route.method !== "GET" && VALID_BODIES[route.path] !== undefined;
  const plain = route.method === "GET" ? undefined : (request.body ?? (mayCreate ? "{" : undefined));
  let body: string | Buffer | undefined = plain;
  if (request.encoding) {
    headers["content-encoding"] = request.encoding.name;
    const encode = ENCODERS[request.encoding.name];
    if (plain !== undefined && request.encoding.encoded && encode) body = encode(Buffer.from(plain));
  }
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 10_000);
  const res = await fetch(urlOf(request), { method: route.method, headers, body, signal: abort.signal });
  // The live task list is a stream that stays open by design: once it has answered 200 with an event
  // stream, that is its whole answer. Event streams of ids that exist would stay open too; none exist here.
  const isOpenStream = res.status === 200 && (res.headers.get("content-type") ?? "").startsWith("text/event-stream");
  const text = isOpenStream ? "" : await res.text();
  abort.abort();
  clearTimeout(timer);
  casesRun += 1;
  statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
  return { key, status: res.status, text, contentType: res.headers.get("content-type") ?? "" };
}

describe("fuzzing every route", () => {
  it("answers random and malformed requests with a clear 4xx in the caller's dialect, never a 5xx, and writes nothing", async () => {
    const before = await snapshot();
    await fc.assert(
      fc.asyncProperty(requestArb, async (request) => {
        const { key, status, text, contentType } = await send(request);
        const where = `${key} -> ${status} ${text.slice(0, 300)}`;
        expect([where, status < 500]).toEqual([where, true]);
        expect([where, /\n\s+at |node_modules|\.ts:\d+/.test(text)]).toEqual([where, false]); // no stack trace
        if (request.route.method !== "GET") expect([where, status >= 400]).toEqual([where, true]);
        if (status < 400) return;
        const dialect = dialectOf(new URL(urlOf(request)).pathname);
        expect([where, contentType]).toEqual([where, expect.stringContaining("application/json")]);
        const body = JSON.parse(text);
        if (dialect === "flexstack") {
          expect([where, body]).toEqual([where, expect.objectContaining({ status: "error", data: null, errors: [expect.objectContaining({ message: expect.stringMatching(/\S{3}/) })] })]);
        } else {
          expect([where, body]).toEqual([where, { error: expect.objectContaining({ message: expect.stringMatching(/\S{3}/), type: expect.any(String) }) }]);
          expect([where, Object.keys(body.error).sort()]).toEqual([where, ["code", "message", "param", "type"]]);
        }
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    const after = await snapshot();
    expect(after.rows).toEqual(before.rows);
    expect(after.redisKeys).toEqual(before.redisKeys);
  }, 180_000);
});

describe("fuzzing the resume point of a real event stream", () => {
  it("answers a finished task's events with a replay or a 400 naming Last-Event-ID, whatever the resume point", async () => {
    // A task cancelled before it ran: its stream exists, is final, and closes after replaying.
    const taskId = await stack.submitAsync(VALID_BODIES["/v1/ai/text_completion"]);
    expect((await stack.request(`/v1/ai/tasks/${taskId}/cancel`, { method: "POST" })).status).toBe(200);
    const resumePoint = fc.oneof(printable, nasty.filter((v) => /^[\x20-\x7e]*$/.test(v)), fc.constantFrom("0-0", "1-0", "99999999999999-0", "0-1", "-1-0", "1-", "1e3-0"));
    await fc.assert(
      fc.asyncProperty(resumePoint, fc.boolean(), async (id, asQuery) => {
        const path = `/v1/ai/tasks/${taskId}/events${asQuery ? `?last_event_id=${encodeURIComponent(id)}` : ""}`;
        const res = await stack.request(path, { headers: asQuery ? {} : { "last-event-id": id }, signal: AbortSignal.timeout(10_000) });
        const text = await res.text();
        casesRun += 1;
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const where = `${id} -> ${res.status} ${text.slice(0, 200)}`;
        expect([where, [200, 400].includes(res.status)]).toEqual([where, true]);
        if (res.status === 400) expect([where, (JSON.parse(text) as { errors: { param: string }[] }).errors[0]!.param]).toEqual([where, "Last-Event-ID"]);
      }),
      { seed: SEED, numRuns: 150 },
    );
  });
});

describe("what the fuzzer found", () => {
  // Each was a 500 or 503 before its fix; kept as plain cases so they run whatever the seed.
  it.each([
    ["GET", "/v1/ai/tasks/%/events", "flexstack", "invalid_path"],
    ["GET", "/v1/files/%zz", "openai", "invalid_path"],
    ["GET", "/v1/ai/tasks?batch_id=%00", "flexstack", "invalid_request"],
    ["GET", "/v1/ai/webhooks/deliveries/%00", "flexstack", "invalid_path"],
    ["GET", "/v1/batches/%00", "openai", "invalid_path"],
    // Years outside 0001-9999 reached Postgres and came back as a 500, or a 503 with Retry-After that clients retry forever.
    ["GET", "/v1/ai/tasks?created_from=0000-01-01T00:00:00Z", "flexstack", "invalid_request"],
    ["GET", "/v1/ai/tasks?created_to=-000001-01-01T00:00:00Z", "flexstack", "invalid_request"],
    ["GET", `/v1/ai/tasks?cursor=${Buffer.from(`+275760-09-13T00:00:00.000Z|${"a".repeat(32)}`).toString("base64url")}`, "flexstack", "invalid_request"],
    ["GET", `/v1/ai/tasks?cursor=${Buffer.from(`0000-01-01T00:00:00.000Z|${"a".repeat(32)}`).toString("base64url")}`, "flexstack", "invalid_request"],
    ["GET", `/v1/files?after=file-${"f".repeat(32)}`, "openai", "invalid_request"],
  ])("%s %s answers 400 %s", async (method, path, dialect, code) => {
    const res = await stack.request(path, { method });
    expect(res.status).toBe(400);
    expect(res.headers.get("retry-after")).toBeNull();
    const body = await json(res);
    if (dialect === "openai") expect(body.error).toMatchObject({ type: "invalid_request_error", code });
    else expect(body.errors[0]).toMatchObject({ code });
  });

  it.each([
    ["/v1/ai/text_completion", "flexstack", "gzip"],
    ["/v1/ai/batches", "flexstack", "deflate"],
    ["/v1/chat/completions", "openai", "br"],
    ["/v1/admin/keys", "flexstack", "br"],
  ])("POST %s (%s dialect) with a body marked %s that is not encoded so answers 400 invalid_content_encoding", async (path, dialect, encoding) => {
    const res = await stack.request(path, { method: "POST", body: '{"messages":[]}', headers: { "content-type": "application/json", "content-encoding": encoding } });
    expect(res.status).toBe(400);
    const body = await json(res);
    if (dialect === "openai") expect(body.error).toMatchObject({ code: "invalid_content_encoding", param: "body" });
    else expect(body.errors[0]).toMatchObject({ code: "invalid_content_encoding", param: "body" });
  });
});
