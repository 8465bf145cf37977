import { type RunningApi, loadApiEnv, startApi } from "@llmq/api";
import { ADMIN_USER_ID, CredentialRepository } from "@llmq/db";
import { CredentialChanges } from "@llmq/queue";
import { type SseEvent, eventually, json } from "@llmq/testkit";
import { FAST_AND_SLOW_MODELS, type TestStack, startTestStack } from "@llmq/stack";
import { EventSourceParserStream } from "eventsource-parser/stream";
import { StreamGuard } from "../src/auth/stream-guard";
import { createAccount, login, postRefreshToken } from "./account-support";

// Issue 11, item 4: an open SSE stream went on delivering rows after its key was revoked (an admin
// account's key: 149 rows of 4 owners over 4.5 minutes). Revocation, deletion or demotion of the user,
// and the expiry of an access token now end every SSE route's streams, on every API process.

/** How soon after the change is answered a stream must have ended (pub/sub and a local close). */
const CLOSE_BOUND_MS = 1_500;
/** The access tokens of the main stack live this long (the smallest ACCESS_TOKEN_TTL_SECONDS). */
const TOKEN_TTL_SECONDS = 5;
const SLOW_MODEL = "llama-3.1-8b-instruct"; // 40 tokens a second

/** An SSE response read in the background: its events as they come, and when the server ended it. */
interface OpenStream {
  events: (SseEvent & { at: number })[];
  /** Resolves with the time the server ended the stream. */
  ended: Promise<number>;
  endedAt: number | null;
  abort(): void;
}

const streams: OpenStream[] = [];

async function openStream(url: string, bearer: string, init: { method?: string; json?: unknown; headers?: Record<string, string> } = {}): Promise<OpenStream> {
  const abort = new AbortController();
  const res = await fetch(url, {
    method: init.method ?? "GET",
    headers: { authorization: `Bearer ${bearer}`, ...(init.json !== undefined ? { "content-type": "application/json" } : {}), ...init.headers },
    body: init.json !== undefined ? JSON.stringify(init.json) : undefined,
    signal: abort.signal,
  });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
  const stream: OpenStream = { events: [], endedAt: null, abort: () => abort.abort(), ended: Promise.resolve(0) };
  stream.ended = (async () => {
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true as const, value: undefined }));
      if (done) break;
      stream.events.push({ id: value.id, event: value.event, data: value.data, at: Date.now() });
    }
    stream.endedAt = Date.now();
    return stream.endedAt;
  })();
  streams.push(stream);
  return stream;
}

/** Waits for the stream to have delivered an event matching `match`. */
const sawEvent = (stream: OpenStream, match: (event: SseEvent) => boolean, what: string) =>
  eventually(async () => stream.events.find(match), { what, timeoutMs: 15_000 });

/**
 * Resolves with the stream's end time, or fails when it is still open after `ms`. The bound's timer is
 * cleared once the race is decided: left running (up to 30 s) it held the jest worker past the suite.
 */
async function endsWithin(stream: OpenStream, ms: number, what: string): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} still open ${ms} ms later`)), ms);
  });
  try {
    return await Promise.race([stream.ended, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The Flexstack stream's last event: `event: error` whose data is the error envelope with `code`. */
function expectFlexstackEnd(stream: OpenStream, code: string) {
  const last = stream.events.at(-1)!;
  expect(last.event).toBe("error");
  expect(JSON.parse(last.data)).toMatchObject({ data: null, status: "error", errors: [{ code }] });
}

/** The OpenAI stream's last frame: `data: {"error": {...code}}`, and no [DONE]. */
function expectOpenAIEnd(stream: OpenStream, code: string) {
  const last = stream.events.at(-1)!;
  expect(JSON.parse(last.data)).toMatchObject({ error: { code, message: expect.any(String) } });
  expect(stream.events.some((event) => event.data === "[DONE]")).toBe(false);
}

const taskRequest = (content: string, maxTokens = 400) => ({ messages: [{ role: "user", content }], configs: { model: SLOW_MODEL, max_tokens: maxTokens } });
const chatRequest = (content: string) => ({ model: SLOW_MODEL, messages: [{ role: "user", content }], max_tokens: 400, stream: true });
const isTaskRow = (taskId: string) => (event: SseEvent) => event.event === "task" && JSON.parse(event.data).task_id === taskId;
const isToken = (event: SseEvent) => event.event === "token";

let stack: TestStack;
/** A second API process on the same Postgres and Redis: streams are opened here, changes made on the first. */
let other: RunningApi;
beforeAll(async () => {
  stack = await startTestStack({ models: FAST_AND_SLOW_MODELS, env: { ACCESS_TOKEN_TTL_SECONDS: String(TOKEN_TTL_SECONDS) } });
  other = await startApi(loadApiEnv(stack.env), stack.env, { onResponse: stack.responses.observe });
});
afterAll(async () => {
  for (const stream of streams) stream.abort();
  await other?.close();
  await stack?.close();
});

/** A key for `userId` (or for a new user when absent), made with the admin key. */
async function createKey(name: string, userId?: string): Promise<{ id: string; key: string; userId: string }> {
  const res = await stack.request("/v1/admin/keys", { method: "POST", json: { name, ...(userId ? { user_id: userId } : {}) } });
  expect(res.status).toBe(201);
  const data = (await json(res)).data.data;
  return { id: data.id, key: data.key, userId: data.user_id };
}

describe("a revoked key (DELETE /v1/admin/keys/{id})", () => {
  it("ends its live list, task event and OpenAI streams on every API process at once, and nothing is delivered after", async () => {
    const revoked = await createKey("to-revoke");
    const sibling = await createKey("sibling", revoked.userId);
    const feed = await openStream(`${other.url}/v1/ai/tasks/updates`, revoked.key);
    const taskId = await stack.submitAsync(taskRequest("follow me"), revoked.key);
    const events = await openStream(`${other.url}/v1/ai/tasks/${taskId}/events`, revoked.key);
    const chat = await openStream(`${other.url}/v1/chat/completions`, revoked.key, { method: "POST", json: chatRequest("stream me") });
    await sawEvent(feed, isTaskRow(taskId), "the task's row in the live list");
    await sawEvent(events, isToken, "a token of the task");
    await sawEvent(chat, (event) => JSON.parse(event.data).choices?.[0]?.delta?.content, "a chat chunk");

    expect((await stack.request(`/v1/admin/keys/${revoked.id}`, { method: "DELETE" })).status).toBe(200);
    const revokedAt = Date.now();
    // Work of the same user, under the key that still lives, after the revocation.
    const later = await stack.submitAsync(taskRequest("after the revocation", 8), sibling.key);

    for (const [stream, what] of [[feed, "the live list"], [events, "the task's events"], [chat, "the OpenAI stream"]] as const) {
      expect((await endsWithin(stream, CLOSE_BOUND_MS, what)) - revokedAt).toBeLessThan(CLOSE_BOUND_MS);
    }
    expectFlexstackEnd(feed, "api_key_revoked");
    expectFlexstackEnd(events, "api_key_revoked");
    expectOpenAIEnd(chat, "api_key_revoked");
    expect(feed.events.filter(isTaskRow(later))).toEqual([]);
    // The later task's rows reach its own key's list, so their absence above is the revocation's doing.
    const siblingFeed = await openStream(`${other.url}/v1/ai/tasks/updates`, sibling.key);
    const again = await stack.submitAsync(taskRequest("seen by the sibling", 8), sibling.key);
    await sawEvent(siblingFeed, isTaskRow(again), "the sibling key's row");

    // The OpenAI request is given up with its stream (as when its client leaves); the next request is refused.
    const chatTaskId = JSON.parse(chat.events[0]!.data).id.replace(/^chatcmpl-/, "");
    await eventually(async () => ((await stack.api.deps.tasks.findById(chatTaskId))?.status === "CANCELLED" ? true : undefined), { what: "the chat task cancelled" });
    expect((await stack.request("/v1/ai/tasks", { key: revoked.key })).status).toBe(401);
    siblingFeed.abort();
  });
});

describe("a demoted admin (PATCH /v1/admin/users/{id} {is_admin: false})", () => {
  it("ends the streams that showed other owners' tasks, keeps those of their own, and is refused admin routes next", async () => {
    const admin = await createAccount(stack, { isAdmin: true });
    const adminKey = await createKey("admin-account-key", admin.id);
    const tenant = await createKey("tenant");
    const theirs = await stack.submitAsync(taskRequest("a tenant's task"), tenant.key);
    const mine = await stack.submitAsync(taskRequest("the admin's own task", 800), adminKey.key);

    const feed = await openStream(`${other.url}/v1/ai/tasks/updates`, adminKey.key);
    const theirEvents = await openStream(`${other.url}/v1/ai/tasks/${theirs}/events`, adminKey.key);
    const myEvents = await openStream(`${other.url}/v1/ai/tasks/${mine}/events`, adminKey.key);
    await sawEvent(feed, isTaskRow(theirs), "the tenant's row in the admin's list");
    await sawEvent(theirEvents, isToken, "a token of the tenant's task");
    await sawEvent(myEvents, isToken, "a token of the admin's own task");

    const session = await login(stack, admin.email, admin.password);
    expect((await stack.request("/v1/admin/users", { key: session.access_token })).status).toBe(200);
    const res = await stack.request(`/v1/admin/users/${admin.id}`, { method: "PATCH", json: { is_admin: false } });
    expect(res.status).toBe(200);
    expect((await json(res)).data.data).toMatchObject({ id: admin.id, is_admin: false });
    const demotedAt = Date.now();
    // An access token issued while an admin carries no role: the next request reads the flag afresh.
    expect((await stack.request("/v1/admin/users", { key: session.access_token })).status).toBe(403);
    const later = await stack.submitAsync(taskRequest("a tenant's later task", 8), tenant.key);

    for (const [stream, what] of [[feed, "the all-tenants list"], [theirEvents, "the tenant's task events"]] as const) {
      expect((await endsWithin(stream, CLOSE_BOUND_MS, what)) - demotedAt).toBeLessThan(CLOSE_BOUND_MS);
      expectFlexstackEnd(stream, "admin_role_revoked");
    }
    expect(feed.events.filter(isTaskRow(later))).toEqual([]);
    // Their own task's stream goes on.
    const tokensBefore = myEvents.events.filter(isToken).length;
    await eventually(async () => (myEvents.events.filter(isToken).length > tokensBefore + 5 ? true : undefined), { what: "more tokens of the own task" });
    expect(myEvents.endedAt).toBeNull();

    expect((await stack.request("/v1/admin/users", { key: adminKey.key })).status).toBe(403);
    expect((await stack.request(`/v1/ai/tasks/${theirs}`, { key: adminKey.key })).status).toBe(404);
    const ownFeed = await openStream(`${other.url}/v1/ai/tasks/updates`, adminKey.key);
    const ownTask = await stack.submitAsync(taskRequest("own again", 8), adminKey.key);
    const tenantTask = await stack.submitAsync(taskRequest("tenant again", 8), tenant.key);
    await sawEvent(ownFeed, isTaskRow(ownTask), "the own task in the new list");
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(ownFeed.events.filter(isTaskRow(tenantTask))).toEqual([]);

    // Promotion takes effect on the next request too.
    expect((await stack.request(`/v1/admin/users/${admin.id}`, { method: "PATCH", json: { is_admin: true } })).status).toBe(200);
    expect((await stack.request("/v1/admin/users", { key: adminKey.key })).status).toBe(200);
    ownFeed.abort();
    myEvents.abort();
  });
});

describe("a deleted user (DELETE /v1/admin/users/{id})", () => {
  it("ends their streams by key and by access token, and their keys, tokens and data go with them", async () => {
    const account = await createAccount(stack);
    const key = await createKey("doomed", account.id);
    const grant = await login(stack, account.email, account.password);
    const taskId = await stack.submitAsync(taskRequest("soon gone"), key.key);
    const feed = await openStream(`${other.url}/v1/ai/tasks/updates`, key.key);
    const events = await openStream(`${other.url}/v1/ai/tasks/${taskId}/events`, grant.access_token);
    await sawEvent(feed, isTaskRow(taskId), "the row");
    await sawEvent(events, isToken, "a token");

    const res = await stack.request(`/v1/admin/users/${account.id}`, { method: "DELETE" });
    expect(res.status).toBe(200);
    expect((await json(res)).data.data).toEqual({ id: account.id, deleted: true });
    const deletedAt = Date.now();
    for (const [stream, what] of [[feed, "the live list"], [events, "the task's events"]] as const) {
      expect((await endsWithin(stream, CLOSE_BOUND_MS, what)) - deletedAt).toBeLessThan(CLOSE_BOUND_MS);
      expectFlexstackEnd(stream, "account_deleted");
    }

    expect((await stack.request("/v1/ai/tasks", { key: key.key })).status).toBe(401);
    const byToken = await stack.request("/v1/ai/tasks", { key: grant.access_token });
    expect(byToken.status).toBe(401);
    expect((await json(byToken)).errors[0].code).toBe("invalid_access_token");
    expect((await postRefreshToken(stack, "refresh", grant.refresh_token)).status).toBe(401);
    const db = stack.api.deps.db;
    expect(await db.user.count({ where: { id: account.id } })).toBe(0);
    expect(await db.apiKey.count({ where: { userId: account.id } })).toBe(0);
    expect(await db.refreshToken.count({ where: { userId: account.id } })).toBe(0);
    expect(await db.task.count({ where: { ownerId: account.id } })).toBe(0);

    const again = await stack.request(`/v1/admin/users/${account.id}`, { method: "DELETE" });
    expect(again.status).toBe(404);
    expect((await json(again)).errors[0].code).toBe("user_not_found");
  });

  it("refuses to delete or demote the operator's account, bad ids, unknown fields, and callers who are not the admin", async () => {
    for (const init of [{ method: "DELETE" }, { method: "PATCH", json: { is_admin: false } }]) {
      const res = await stack.request(`/v1/admin/users/${ADMIN_USER_ID}`, init);
      expect(res.status).toBe(409);
      expect((await json(res)).errors[0].code).toBe("admin_user_protected");
    }
    expect(await stack.api.deps.db.user.count({ where: { id: ADMIN_USER_ID, isAdmin: true } })).toBe(1);
    expect((await stack.request("/v1/admin/users/not-a-uuid", { method: "DELETE" })).status).toBe(400);
    const target = await createAccount(stack);
    for (const body of [{ is_admin: "yes" }, { role: "admin" }]) {
      const res = await stack.request(`/v1/admin/users/${target.id}`, { method: "PATCH", json: body });
      expect(res.status).toBe(400);
    }
    const stranger = await createKey("stranger");
    expect((await stack.request(`/v1/admin/users/${target.id}`, { method: "DELETE", key: stranger.key })).status).toBe(403);
    expect((await stack.request(`/v1/admin/users/${target.id}`, { method: "PATCH", json: { is_admin: true }, key: stranger.key })).status).toBe(403);
    expect(await stack.api.deps.db.user.count({ where: { id: target.id, isAdmin: false } })).toBe(1);
  });
});

describe("an access token's streams", () => {
  it("end when the token expires, naming access_token_expired; a refreshed token resumes with Last-Event-ID and loses nothing", async () => {
    const account = await createAccount(stack);
    const grant = await login(stack, account.email, account.password);
    const expiresAt = JSON.parse(Buffer.from(grant.access_token.split(".")[1]!, "base64url").toString()).exp * 1000;
    // About 280 tokens at 40 a second (~7 s): still running when the token expires (5 s), done within the refreshed one.
    const taskId = await stack.submitAsync(taskRequest("Write 280 words that outlive the token.", 800), grant.access_token);
    const feed = await openStream(`${other.url}/v1/ai/tasks/updates`, grant.access_token);
    const events = await openStream(`${other.url}/v1/ai/tasks/${taskId}/events`, grant.access_token);
    const chat = await openStream(`${other.url}/v1/chat/completions`, grant.access_token, { method: "POST", json: chatRequest("Write 400 words that outlive the token too.") });
    await sawEvent(events, isToken, "a token");

    for (const [stream, what] of [[feed, "the live list"], [events, "the task's events"], [chat, "the OpenAI stream"]] as const) {
      const endedAt = await endsWithin(stream, TOKEN_TTL_SECONDS * 1000 + CLOSE_BOUND_MS, what);
      expect(endedAt).toBeGreaterThanOrEqual(expiresAt - 50);
      expect(endedAt - expiresAt).toBeLessThan(CLOSE_BOUND_MS);
    }
    expectFlexstackEnd(feed, "access_token_expired");
    expectFlexstackEnd(events, "access_token_expired");
    expectOpenAIEnd(chat, "access_token_expired");

    // The client refreshes and resumes after the last event it saw: every token, once, in order.
    const refreshed = await json(await postRefreshToken(stack, "refresh", grant.refresh_token));
    const lastId = events.events.filter((event) => event.id).at(-1)!.id!;
    const resumed = await openStream(`${other.url}/v1/ai/tasks/${taskId}/events`, refreshed.access_token, { headers: { "last-event-id": lastId } });
    await endsWithin(resumed, 30_000, "the resumed stream");
    const result = JSON.parse(resumed.events.find((event) => event.event === "result")!.data);
    expect(result.data.data.status).toBe("COMPLETED");
    const text = [...events.events, ...resumed.events].filter(isToken).map((event) => JSON.parse(event.data).delta).join("");
    expect(text).toBe(result.data.data.response);

    // An expired token is not a revocation: the OpenAI request runs on, to be fetched later.
    const chatTaskId = JSON.parse(chat.events[0]!.data).id.replace(/^chatcmpl-/, "");
    await eventually(async () => ((await stack.api.deps.tasks.findById(chatTaskId))?.status === "COMPLETED" ? true : undefined), { what: "the chat task to complete", timeoutMs: 30_000 });
  });
});

describe("the periodic re-check (STREAM_CREDENTIAL_CHECK_SECONDS)", () => {
  let quiet: TestStack;
  beforeAll(async () => {
    quiet = await startTestStack({ worker: false, env: { STREAM_CREDENTIAL_CHECK_SECONDS: "1" } });
  });
  afterAll(async () => {
    await quiet?.close();
  });

  it("ends streams whose credential changed without a message (written to the database directly): revoked, demoted, deleted", async () => {
    const db = quiet.api.deps.db;
    const newKey = async (userId?: string) => {
      const res = await quiet.request("/v1/admin/keys", { method: "POST", json: { name: "quiet", ...(userId ? { user_id: userId } : {}) } });
      const data = (await json(res)).data.data;
      return { id: data.id as string, key: data.key as string, userId: data.user_id as string };
    };
    const revoked = await newKey();
    const admin = await createAccount(quiet, { isAdmin: true });
    const demoted = await newKey(admin.id);
    const deleted = await newKey();
    const feeds = {
      api_key_revoked: await openStream(`${quiet.url}/v1/ai/tasks/updates`, revoked.key),
      admin_role_revoked: await openStream(`${quiet.url}/v1/ai/tasks/updates`, demoted.key),
      account_deleted: await openStream(`${quiet.url}/v1/ai/tasks/updates`, deleted.key),
    };
    await db.apiKey.update({ where: { id: revoked.id }, data: { revokedAt: new Date() } });
    await db.user.update({ where: { id: admin.id }, data: { isAdmin: false } });
    await db.user.delete({ where: { id: deleted.userId } });
    const changedAt = Date.now();
    for (const [code, feed] of Object.entries(feeds)) {
      expect((await endsWithin(feed, 1_000 + CLOSE_BOUND_MS, code)) - changedAt).toBeLessThan(1_000 + CLOSE_BOUND_MS);
      expectFlexstackEnd(feed, code);
    }
  });

  it("reads the credentials of every open stream of a process with ONE query per round", async () => {
    const { db, redis, keys, logger } = quiet.api.deps;
    let queries = 0;
    const credentials = new CredentialRepository(db);
    const counted = Object.create(credentials) as CredentialRepository;
    counted.states = (keyIds, userIds) => {
      queries += 1;
      return credentials.states(keyIds, userIds);
    };
    const guard = new StreamGuard({ credentials: counted, changes: new CredentialChanges(redis, keys), logger, checkIntervalMs: 3_600_000 });
    try {
      const live = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
        const res = await quiet.request("/v1/admin/keys", { method: "POST", json: { name: `many ${i}` } });
        const data = (await json(res)).data.data;
        return { userId: data.user_id as string, isAdmin: false, keyId: data.id as string };
      }));
      const gone = { ...live[0]!, keyId: "00000000-0000-4000-8000-0000000000ff" };
      const ended: string[] = [];
      for (const [i, principal] of [...live, gone].entries()) guard.watch(principal, false, (error) => ended.push(`${i}:${error.code}`));
      await guard.recheck();
      expect(queries).toBe(1);
      expect(ended).toEqual(["20:api_key_revoked"]);
      expect(guard.size()).toBe(20);
    } finally {
      guard.close();
    }
  });
});
