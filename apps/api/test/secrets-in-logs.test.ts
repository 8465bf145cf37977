import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  type OpenAIFixture,
  type ServiceProcess,
  type WebhookReceiver,
  createTestDatabase,
  eventually,
  startOpenAIFixture,
  spawnService,
  startWebhookReceiver,
  testRedisUrl,
  uniquePrefix,
} from "@llmq/testkit";
import YAML from "yaml";

// The real API and worker processes, logging at `trace`, handle every kind of secret the service
// knows; none may show up in their output or in an error body.
const ADMIN_KEY = `admin-secret-${uniquePrefix()}-0123456789abcdef`;
const PROVIDER_KEY = `sk-upstream-secret-${uniquePrefix()}-abcdef0123456789`;
const JWT_SECRET = `jwt-signing-secret-${uniquePrefix()}-0123456789abcdef`;
const PASSWORD = `correct horse ${uniquePrefix()} battery`;
const DB_PASSWORD = `pw-${uniquePrefix()}-0123456789`; // Postgres here trusts any password; it must still stay out of the logs

let database: { url: string; drop: () => Promise<void> };
let fixture: OpenAIFixture;
let receiver: WebhookReceiver;
let dir: string;
let api: ServiceProcess;
let worker: ServiceProcess;
let url: string;

beforeAll(async () => {
  database = await createTestDatabase();
  fixture = await startOpenAIFixture({ models: ["upstream-model"] });
  // An upstream that echoes the key it was sent in its error message, as some do.
  fixture.setBehaviour({ errorMessage: `Incorrect API key provided: ${PROVIDER_KEY}.` });
  receiver = await startWebhookReceiver();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "llmq-secrets-"));
  const modelsFile = path.join(dir, "models.yaml");
  fs.writeFileSync(
    modelsFile,
    YAML.stringify({
      providers: { upstream: { type: "openai", base_url: fixture.url, api_key_env: "UPSTREAM_KEY", timeout_ms: 5000 } },
      models: [
        { id: "remote", provider: "upstream", upstream_model: "upstream-model", concurrency: 4 },
        { id: "gemma-7b", provider: "simulated", concurrency: 4 },
      ],
    }),
  );
  const dbUrl = new URL(database.url);
  dbUrl.password = DB_PASSWORD;
  const env = {
    DATABASE_URL: dbUrl.toString(),
    REDIS_URL: testRedisUrl(),
    REDIS_PREFIX: uniquePrefix(),
    MODELS_FILE: modelsFile,
    ADMIN_API_KEY: ADMIN_KEY,
    AUTH_JWT_SECRET: JWT_SECRET,
    UPSTREAM_KEY: PROVIDER_KEY,
    PORT: "0",
    LOG_LEVEL: "trace",
    API_PROCESSES: "1",
    WEBHOOK_ALLOWED_CIDRS: "127.0.0.1/32",
  };
  [api, worker] = await Promise.all([
    spawnService("apps/api/src/main.ts", env, /"msg":"api listening"/),
    spawnService("apps/worker/src/main.ts", env, /worker ready/),
  ]);
  url = /"url":"(http:\/\/[^"]+)"/.exec(api.output())![1]!;
}, 60_000);

afterAll(async () => {
  await Promise.all([api?.stop(), worker?.stop()]);
  await fixture?.close();
  await receiver?.close();
  await database?.drop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Every response body that was not a success, to check for secrets at the end. */
const errorBodies: string[] = [];
let requestsMade = 0;

async function call(pathname: string, init: { key?: string; method?: string; json?: unknown; headers?: Record<string, string> } = {}) {
  const res = await fetch(url + pathname, {
    method: init.method ?? (init.json !== undefined ? "POST" : "GET"),
    headers: {
      ...(init.key !== undefined ? { authorization: `Bearer ${init.key}` } : {}),
      ...(init.json !== undefined ? { "content-type": "application/json" } : {}),
      ...init.headers,
    },
    body: init.json !== undefined ? JSON.stringify(init.json) : undefined,
  });
  const text = await res.text();
  requestsMade += 1;
  if (res.status >= 400) errorBodies.push(text);
  return { status: res.status, text, body: text.startsWith("{") ? JSON.parse(text) : null };
}

describe("secrets", () => {
  it("never appear in the logs of the API and the worker at trace level, nor in error bodies", async () => {
    // Granted private webhook targets: the receiver runs on loopback.
    const created = await call("/v1/admin/keys", { key: ADMIN_KEY, json: { name: "tenant", webhooks: { allow_private_targets: true } } });
    expect(created.status).toBe(201);
    const tenantKey = created.body.data.data.key as string;

    // The webhook secret, fetched and rotated; a task's webhook is then signed with the new one.
    const first = await call("/v1/ai/webhooks/secret", { key: tenantKey });
    const rotated = await call("/v1/ai/webhooks/secret/rotate", { key: tenantKey, method: "POST" });
    const webhookSecrets = [first.body.data.data.secret as string, rotated.body.data.data.secret as string];
    expect(webhookSecrets[0]).not.toBe(webhookSecrets[1]);
    const hooked = await call("/v1/ai/text_completion", {
      key: tenantKey,
      json: { messages: [{ role: "user", content: "hi" }], configs: { model: "gemma-7b", max_tokens: 4 }, webhook: `${receiver.url}/hook` },
    });
    expect(hooked.body.data.data.status).toBe("COMPLETED");
    await eventually(async () => receiver.at("/hook").length > 0 || undefined, { what: "the webhook" });

    // The upstream refuses the provider key (401, not retried) and fails (500, retried).
    const refused = await call("/v1/chat/completions", { key: tenantKey, json: { model: "remote", messages: [{ role: "user", content: "[[fixture:status=401]] hi" }] } });
    expect(refused.status).toBeGreaterThanOrEqual(400);
    const failing = await call("/v1/ai/text_completion?async=true", { key: tenantKey, json: { messages: [{ role: "user", content: "[[fixture:status=500]] hi" }], configs: { model: "remote", max_tokens: 4 } } });
    expect(failing.status).toBe(202);
    await eventually(async () => fixture.requests.filter((r) => JSON.stringify(r.body).includes("status=500")).length >= 2 || undefined, { what: "a retried 500", timeoutMs: 30_000 });
    expect(fixture.requests.every((r) => r.headers.authorization === `Bearer ${PROVIDER_KEY}`)).toBe(true);
    const failedTask = await call(`/v1/ai/tasks/${failing.body.data.data.task_id}`, { key: tenantKey });
    errorBodies.push(failedTask.text);

    // Wrong and near-miss keys, in both dialects, and the admin key where it is not enough.
    await call("/v1/ai/tasks", { key: `${tenantKey}x` });
    await call("/v1/models", { key: ADMIN_KEY.slice(0, -1) });
    await call("/v1/chat/completions", { key: `${ADMIN_KEY}x`, json: { model: "remote", messages: [] } });
    await call("/v1/chat/completions", { key: tenantKey, json: { model: "remote", messages: [{ role: "user", content: 7 }], api_key: PROVIDER_KEY } });
    await call("/v1/ai/text_completion", { key: tenantKey, json: { messages: "x" }, headers: { cookie: `session=${tenantKey}`, "x-api-key": tenantKey, "api-key": tenantKey, "proxy-authorization": `Bearer ${ADMIN_KEY}` } });
    const wrongAdmin = await call("/v1/admin/keys", { key: tenantKey });
    expect(wrongAdmin.status).toBe(403);

    // A user signs in with a password; the tokens are used, refreshed, and a wrong password tried.
    expect((await call("/v1/admin/users", { key: ADMIN_KEY, json: { email: "someone@example.com", name: "someone", password: PASSWORD } })).status).toBe(201);
    const login = await call("/v1/auth/login", { json: { email: "someone@example.com", password: PASSWORD } });
    expect(login.status).toBe(200);
    const { access_token: accessToken, refresh_token: refreshToken } = login.body as { access_token: string; refresh_token: string };
    expect((await call("/v1/users/me", { key: accessToken })).status).toBe(200);
    await call("/v1/auth/login", { json: { email: "someone@example.com", password: `${PASSWORD}!` } });
    const refreshed = await call("/v1/auth/refresh", { json: { refresh_token: refreshToken } });
    expect(refreshed.status).toBe(200);
    // Reusing the spent refresh token is refused; its value must not come back in the error either.
    expect((await call("/v1/auth/refresh", { json: { refresh_token: refreshToken } })).status).toBe(401);

    // Wait for the API's log line of every request (the request observer logs each at trace, when its answer ends) and the worker's upstream errors.
    await eventually(async () => ((api.output().match(/"reqId"/g)?.length ?? 0) >= requestsMade && worker.output().includes("upstream") ? true : undefined), { what: "log lines" });

    const secrets: Record<string, string> = {
      "tenant key": tenantKey,
      "tenant key's secret part": tenantKey.slice("llmq_".length),
      "admin key": ADMIN_KEY,
      "provider key": PROVIDER_KEY,
      "webhook secret": webhookSecrets[0]!.replace(/^whsec_/, ""),
      "rotated webhook secret": webhookSecrets[1]!.replace(/^whsec_/, ""),
      "database password": DB_PASSWORD,
      "JWT signing secret": JWT_SECRET,
      password: PASSWORD,
      "access token": accessToken,
      "refresh token": refreshToken,
      "rotated refresh token": (refreshed.body as { refresh_token: string }).refresh_token,
    };
    const logs = { api: api.output(), worker: worker.output() };
    for (const [what, secret] of Object.entries(secrets)) {
      for (const [where, text] of Object.entries(logs)) expect(`${what} in ${where} logs: ${text.includes(secret)}`).toBe(`${what} in ${where} logs: false`);
      const leaking = errorBodies.filter((body) => body.includes(secret));
      expect(`${what} in error bodies: ${leaking.join("\n")}`).toBe(`${what} in error bodies: `);
    }
    expect(errorBodies.length).toBeGreaterThanOrEqual(7);
    // Requests were logged with their headers (the key censored): the checks above read real log lines.
    expect(logs.api).toContain(`"authorization":"[redacted]"`);
  }, 90_000);
});
