import { loadApiEnv } from "@llmq/api";
import { json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import { SignJWT } from "jose";
import { createAccount, login, postLogin, postRefreshToken, signedInAccount } from "./account-support";

const ADMIN_EMAIL = "Operator@Example.test";
const ADMIN_PASSWORD = "bootstrap password 42";

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ env: { ADMIN_EMAIL, ADMIN_PASSWORD } });
});
afterAll(async () => {
  await stack.close();
});

function expectFlexError(body: any, code: string) {
  expect(body).toMatchObject({ data: null, status: "error", errors: [{ code }] });
  expect(body.error_description).toBe(body.errors[0].message);
}

const REQUEST = { messages: [{ role: "user", content: "accounts" }], configs: { model: "gemma-7b", max_tokens: 12 } };

describe("the first admin from ADMIN_EMAIL / ADMIN_PASSWORD", () => {
  it("is created at start-up and signs in (email without case) as an admin", async () => {
    const grant = await login(stack, ADMIN_EMAIL.toLowerCase(), ADMIN_PASSWORD);
    expect(grant.user).toMatchObject({ email: "operator@example.test", is_admin: true });
    const users = await stack.request("/v1/admin/users", { key: grant.access_token });
    expect(users.status).toBe(200);
  });

  it("is not created twice when the API starts again", async () => {
    const { startApi } = await import("@llmq/api");
    const again = await startApi(loadApiEnv(stack.env), stack.env);
    await again.close();
    expect(await stack.api.deps.db.user.count({ where: { email: "operator@example.test" } })).toBe(1);
  });

  it("needs both variables: one alone stops the start", () => {
    expect(() => loadApiEnv({ ...stack.env, ADMIN_PASSWORD: undefined })).toThrow(/ADMIN_PASSWORD/);
  });
});

describe("POST /v1/admin/users", () => {
  it("creates a user (201, no hash), stores an argon2id hash, lists users, refuses a taken email with 409", async () => {
    const email = `new.${Date.now()}@example.test`;
    const res = await stack.request("/v1/admin/users", { method: "POST", json: { email, name: "New", password: "a long password" } });
    expect(res.status).toBe(201);
    const text = await res.text();
    expect(text).not.toContain("a long password");
    expect(text).not.toContain("argon2");
    const user = JSON.parse(text).data.data;
    expect(user).toMatchObject({ id: expect.any(String), email, name: "New", is_admin: false, has_password: true });
    expect(user).not.toHaveProperty("password_hash");
    const stored = await stack.api.deps.db.user.findUnique({ where: { id: user.id } });
    expect(stored?.passwordHash).toMatch(/^\$argon2id\$/);

    const list = await json(await stack.request("/v1/admin/users"));
    expect(list.data.data.map((row: { id: string }) => row.id)).toContain(user.id);
    expect(JSON.stringify(list)).not.toContain("argon2");

    const dup = await stack.request("/v1/admin/users", { method: "POST", json: { email: email.toUpperCase(), name: "Dup", password: "another password" } });
    expect(dup.status).toBe(409);
    expectFlexError(await json(dup), "email_taken");
  });

  it("refuses bad input with 400 naming the field, and writes nothing", async () => {
    const before = await stack.api.deps.db.user.count();
    for (const [body, param] of [
      [{ email: "not-an-email", name: "x", password: "long enough" }, "email"],
      [{ email: "short@example.test", name: "x", password: "short" }, "password"],
      [{ email: "extra@example.test", name: "x", password: "long enough", role: "root" }, "role"],
    ] as const) {
      const res = await stack.request("/v1/admin/users", { method: "POST", json: body });
      expect(res.status).toBe(400);
      expect((await json(res)).errors[0].param).toBe(param);
    }
    expect(await stack.api.deps.db.user.count()).toBe(before);
  });

  it("is refused to a non-admin, by access token or by API key (403)", async () => {
    const user = await signedInAccount(stack);
    const key = (await json(await stack.request("/v1/admin/keys", { method: "POST", json: { name: "user key", user_id: user.id } }))).data.data.key;
    for (const bearer of [user.token, key]) {
      const create = await stack.request("/v1/admin/users", { method: "POST", json: { email: "x@example.test", name: "x", password: "long enough" }, key: bearer });
      expect(create.status).toBe(403);
      expectFlexError(await json(create), "permission_denied");
      expect((await stack.request("/v1/admin/users", { key: bearer })).status).toBe(403);
    }
  });
});

describe("POST /v1/auth/login", () => {
  it("answers the OAuth 2 token shape with a JWT access token and a refresh token", async () => {
    const account = await createAccount(stack, { name: "Ann" });
    const res = await postLogin(stack, { email: account.email, password: account.password });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const grant = await json(res);
    expect(grant).toEqual({
      access_token: expect.stringMatching(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/),
      token_type: "Bearer",
      expires_in: 900,
      refresh_token: expect.stringMatching(/^[\w-]{43}$/),
      refresh_expires_in: 2_592_000,
      user: { id: account.id, name: "Ann", email: account.email, is_admin: false },
    });
    // Only the refresh token's hash is stored.
    const rows = await stack.api.deps.db.$queryRaw<Record<string, unknown>[]>`SELECT * FROM refresh_tokens WHERE user_id = ${account.id}::uuid`;
    expect(rows).toHaveLength(1);
    for (const value of Object.values(rows[0]!)) expect(String(value)).not.toContain(grant.refresh_token);
  });

  it("answers the same 401 invalid_credentials for a wrong password and an unknown email", async () => {
    const account = await createAccount(stack);
    const wrongPassword = await postLogin(stack, { email: account.email, password: "not the password" });
    const unknownEmail = await postLogin(stack, { email: "nobody@example.test", password: account.password });
    const keyOnlyUser = await postLogin(stack, { email: "", password: "x" });
    expect(keyOnlyUser.status).toBe(400);
    const bodies = [];
    for (const res of [wrongPassword, unknownEmail]) {
      expect(res.status).toBe(401);
      const body = await json(res);
      expectFlexError(body, "invalid_credentials");
      bodies.push(body.errors[0].message);
    }
    expect(bodies[0]).toBe(bodies[1]);
  });
});

describe("failed sign-ins", () => {
  it("past 10 failures in a minute for one email, the next attempt is 429 before the password is checked; others are not affected", async () => {
    const target = await createAccount(stack);
    const bystander = await createAccount(stack);
    for (let i = 0; i < 10; i++) expect((await postLogin(stack, { email: target.email, password: `guess ${i}` })).status).toBe(401);
    const refused = await postLogin(stack, { email: target.email.toUpperCase(), password: target.password });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expectFlexError(await json(refused), "too_many_sign_in_attempts");
    expect((await postLogin(stack, { email: bystander.email, password: bystander.password })).status).toBe(200);
  });
});

describe("access tokens", () => {
  it("work on task routes, and keep each user to their own tasks", async () => {
    const ann = await signedInAccount(stack);
    const bob = await signedInAccount(stack);
    const taskId = await stack.submitAsync(REQUEST, ann.token);
    const own = await stack.request(`/v1/ai/tasks/${taskId}`, { key: ann.token });
    expect(own.status).toBe(200);
    expect((await stack.api.deps.tasks.findById(taskId))?.ownerId).toBe(ann.id);
    const other = await stack.request(`/v1/ai/tasks/${taskId}`, { key: bob.token });
    expect(other.status).toBe(404);
    const history = await json(await stack.request("/v1/ai/tasks", { key: bob.token }));
    expect(history.data.data.tasks).toEqual([]);
    // The OpenAI dialect takes them too.
    expect((await stack.request("/v1/models", { key: ann.token })).status).toBe(200);
  });

  it("answers 401 access_token_expired for an expired token and invalid_access_token for a forged one", async () => {
    const ann = await signedInAccount(stack);
    const secret = new TextEncoder().encode(stack.env.AUTH_JWT_SECRET);
    const expired = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(ann.id).setIssuer("llmq").setIssuedAt(1_700_000_000).setExpirationTime(1_700_000_900).sign(secret);
    const res = await stack.request("/v1/ai/tasks", { key: expired });
    expect(res.status).toBe(401);
    expectFlexError(await json(res), "access_token_expired");

    const forged = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(ann.id).setIssuer("llmq").setExpirationTime("5m").sign(new TextEncoder().encode("x".repeat(40)));
    const tampered = `${ann.token.slice(0, -4)}AAAA`;
    for (const token of [forged, tampered]) {
      const refused = await stack.request("/v1/ai/tasks", { key: token });
      expect(refused.status).toBe(401);
      expectFlexError(await json(refused), "invalid_access_token");
    }
  });
});

describe("POST /v1/auth/refresh and /v1/auth/logout", () => {
  it("rotates: each refresh gives a new pair and uses the old refresh token up", async () => {
    const ann = await signedInAccount(stack);
    const first = await postRefreshToken(stack, "refresh", ann.grant.refresh_token);
    expect(first.status).toBe(200);
    const second = await json(first);
    expect(second).toMatchObject({ token_type: "Bearer", user: { id: ann.id } });
    expect(second.refresh_token).not.toBe(ann.grant.refresh_token);
    expect((await stack.request("/v1/users/me", { key: second.access_token })).status).toBe(200);

    const third = await postRefreshToken(stack, "refresh", second.refresh_token);
    expect(third.status).toBe(200);
  });

  it("refuses a reused refresh token with refresh_token_reused and revokes its whole family", async () => {
    const ann = await signedInAccount(stack);
    const rotated = await json(await postRefreshToken(stack, "refresh", ann.grant.refresh_token));
    // Another session of the same user is a different family and survives.
    const otherSession = await login(stack, ann.email, ann.password);

    const replay = await postRefreshToken(stack, "refresh", ann.grant.refresh_token);
    expect(replay.status).toBe(401);
    expectFlexError(await json(replay), "refresh_token_reused");

    const newest = await postRefreshToken(stack, "refresh", rotated.refresh_token);
    expect(newest.status).toBe(401);
    expectFlexError(await json(newest), "invalid_refresh_token");

    expect((await postRefreshToken(stack, "refresh", otherSession.refresh_token)).status).toBe(200);
  });

  it("of two concurrent refreshes with one token, exactly one succeeds", async () => {
    const ann = await signedInAccount(stack);
    const answers = await Promise.all([postRefreshToken(stack, "refresh", ann.grant.refresh_token), postRefreshToken(stack, "refresh", ann.grant.refresh_token)]);
    expect(answers.map((res) => res.status).sort()).toEqual([200, 401]);
  });

  it("refuses unknown and expired refresh tokens with invalid_refresh_token", async () => {
    const unknown = await postRefreshToken(stack, "refresh", "A".repeat(43));
    expect(unknown.status).toBe(401);
    expectFlexError(await json(unknown), "invalid_refresh_token");

    const ann = await signedInAccount(stack);
    await stack.api.deps.db.refreshToken.updateMany({ where: { userId: ann.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const expired = await postRefreshToken(stack, "refresh", ann.grant.refresh_token);
    expect(expired.status).toBe(401);
    expectFlexError(await json(expired), "invalid_refresh_token");
  });

  it("logout revokes the session, is idempotent, and a malformed body is a 400", async () => {
    const ann = await signedInAccount(stack);
    const rotated = await json(await postRefreshToken(stack, "refresh", ann.grant.refresh_token));
    for (let i = 0; i < 2; i++) {
      const out = await postRefreshToken(stack, "logout", rotated.refresh_token);
      expect(out.status).toBe(200);
      expect((await json(out)).data.data).toEqual({ logged_out: true });
    }
    expect((await postRefreshToken(stack, "logout", "never-issued")).status).toBe(200);
    const after = await postRefreshToken(stack, "refresh", rotated.refresh_token);
    expect(after.status).toBe(401);
    expectFlexError(await json(after), "invalid_refresh_token");

    const bad = await fetch(`${stack.url}/v1/auth/logout`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(bad.status).toBe(400);
    expect((await json(bad)).errors[0].param).toBe("refresh_token");
  });
});

describe("GET /v1/users/me", () => {
  it("shows the profile and usage totals that add up to the user's tasks", async () => {
    const ann = await signedInAccount(stack, { name: "Ann Usage" });
    const fresh = await json(await stack.request("/v1/users/me", { key: ann.token }));
    expect(fresh.data.data).toMatchObject({ id: ann.id, name: "Ann Usage", email: ann.email, is_admin: false, created_at: expect.any(String) });
    expect(fresh.data.data.usage).toEqual({
      tasks: 0,
      prompt_tokens: 0,
      completion_tokens: 0,
      total_tokens: 0,
      by_status: { PENDING: 0, RUNNING: 0, COMPLETED: 0, FAILED: 0, CANCELLED: 0, EXPIRED: 0 },
      by_model: [],
    });

    const usages: { model: string; prompt_tokens: number; completion_tokens: number }[] = [];
    for (const [model, content] of [["gemma-7b", "one"], ["gemma-7b", "two"], ["llama-3.1-8b-instruct", "three"]] as const) {
      const res = await stack.request("/v1/ai/text_completion", { method: "POST", json: { messages: [{ role: "user", content }], configs: { model, max_tokens: 10 } }, key: ann.token });
      const task = (await json(res)).data.data;
      expect(task.status).toBe("COMPLETED");
      usages.push({ model, ...task.usage });
    }
    const sum = (rows: typeof usages, field: "prompt_tokens" | "completion_tokens") => rows.reduce((total, row) => total + row[field], 0);
    const gemma = usages.filter((row) => row.model === "gemma-7b");
    const llama = usages.filter((row) => row.model !== "gemma-7b");

    const me = await json(await stack.request("/v1/users/me", { key: ann.token }));
    expect(me.data.data.usage).toEqual({
      tasks: 3,
      prompt_tokens: sum(usages, "prompt_tokens"),
      completion_tokens: sum(usages, "completion_tokens"),
      total_tokens: sum(usages, "prompt_tokens") + sum(usages, "completion_tokens"),
      by_status: { PENDING: 0, RUNNING: 0, COMPLETED: 3, FAILED: 0, CANCELLED: 0, EXPIRED: 0 },
      by_model: [
        { model: "gemma-7b", tasks: 2, prompt_tokens: sum(gemma, "prompt_tokens"), completion_tokens: sum(gemma, "completion_tokens"), total_tokens: sum(gemma, "prompt_tokens") + sum(gemma, "completion_tokens") },
        { model: "llama-3.1-8b-instruct", tasks: 1, prompt_tokens: sum(llama, "prompt_tokens"), completion_tokens: sum(llama, "completion_tokens"), total_tokens: sum(llama, "prompt_tokens") + sum(llama, "completion_tokens") },
      ],
    });
    expect(sum(usages, "completion_tokens")).toBeGreaterThan(0);
  });

  it("works with an API key too (the key's user)", async () => {
    const key = (await json(await stack.request("/v1/admin/keys", { method: "POST", json: { name: "tenant with a key" } }))).data.data;
    const me = await json(await stack.request("/v1/users/me", { key: key.key }));
    expect(me.data.data).toMatchObject({ id: key.user_id, name: "tenant with a key", email: null, is_admin: false });
  });
});
