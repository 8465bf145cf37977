import { json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";

const ALLOWED = "https://app.example.com";
const FOREIGN = "https://evil.example.net";

// One stack with an allowed origin, one with the default (CORS closed).
let open: TestStack;
let closed: TestStack;
beforeAll(async () => {
  [open, closed] = await Promise.all([
    startTestStack({ worker: false, env: { CORS_ORIGINS: `${ALLOWED}, http://localhost:5173` } }),
    startTestStack({ worker: false }),
  ]);
});
afterAll(async () => {
  await Promise.all([open?.close(), closed?.close()]);
});

function expectSecurityHeaders(res: Response) {
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  expect(res.headers.get("x-frame-options")).toBe("SAMEORIGIN");
  expect(res.headers.get("strict-transport-security")).toMatch(/max-age=\d+/);
  expect(res.headers.get("referrer-policy")).toBe("no-referrer");
  expect(res.headers.get("cross-origin-opener-policy")).toBe("same-origin");
  expect(res.headers.get("x-powered-by")).toBeNull();
  const csp = res.headers.get("content-security-policy") ?? "";
  // Same-origin scripts only (swagger-ui and the dashboard's bundle), same-origin fetch/EventSource,
  // inline styles for swagger-ui, no framing by others, and no forced HTTPS upgrade of plain-HTTP installs.
  expect(csp).toContain("default-src 'self'");
  expect(csp).toContain("script-src 'self'");
  expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
  expect(csp).toContain("connect-src 'self'");
  expect(csp).toMatch(/style-src[^;]*'unsafe-inline'/);
  expect(csp).toContain("frame-ancestors 'self'");
  expect(csp).toContain("object-src 'none'");
  expect(csp).not.toContain("upgrade-insecure-requests");
}

describe("security headers", () => {
  it("are set on API routes, on errors and on /docs", async () => {
    const api = await open.request("/v1/ai/tasks");
    expect(api.status).toBe(200);
    expectSecurityHeaders(api);

    const unauthorized = await fetch(`${open.url}/v1/chat/completions`, { method: "POST" });
    expect(unauthorized.status).toBe(401);
    expectSecurityHeaders(unauthorized);

    const docs = await fetch(`${open.url}/docs/`);
    expect(docs.status).toBe(200);
    expect(docs.headers.get("content-type")).toContain("text/html");
    expectSecurityHeaders(docs);
    // Swagger UI loads only same-origin scripts, so the CSP above lets it run.
    const html = await docs.text();
    const scripts = [...html.matchAll(/<script[^>]*src=["']([^"']+)["']/g)].map((m) => m[1]!);
    expect(scripts.length).toBeGreaterThan(0);
    for (const src of scripts) expect(src).not.toMatch(/^(https?:)?\/\//);
    expect(html).not.toMatch(/<script(?![^>]*src=)[^>]*>\s*\S/); // no inline script body
    for (const src of scripts) expect((await fetch(new URL(src, `${open.url}/docs/`))).status).toBe(200);
  });
});

describe("CORS", () => {
  it("lets an allowed origin read responses and the headers it needs", async () => {
    const res = await open.request("/v1/ai/tasks", { headers: { origin: ALLOWED } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe(ALLOWED);
    expect(res.headers.get("vary")).toMatch(/origin/i);
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
    const exposed = (res.headers.get("access-control-expose-headers") ?? "").toLowerCase().split(/\s*,\s*/);
    expect(exposed).toEqual(expect.arrayContaining(["x-task-id", "retry-after", "location", "openai-poll-after-ms"]));
  });

  it("answers an allowed origin's preflight without a key", async () => {
    const res = await fetch(`${open.url}/v1/ai/text_completion`, {
      method: "OPTIONS",
      headers: {
        origin: "http://localhost:5173",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type,idempotency-key,last-event-id",
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
    expect(res.headers.get("access-control-allow-methods")).toContain("POST");
    const allowed = (res.headers.get("access-control-allow-headers") ?? "").toLowerCase().split(/\s*,\s*/);
    expect(allowed).toEqual(expect.arrayContaining(["authorization", "content-type", "idempotency-key", "last-event-id"]));
  });

  it("gives a foreign origin no CORS header, request or preflight", async () => {
    const res = await open.request("/v1/ai/tasks", { headers: { origin: FOREIGN } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    expect(res.headers.get("access-control-expose-headers")).toBeNull();

    const preflight = await fetch(`${open.url}/v1/ai/text_completion`, {
      method: "OPTIONS",
      headers: { origin: FOREIGN, "access-control-request-method": "POST", "access-control-request-headers": "authorization" },
    });
    expect(preflight.status).not.toBe(204);
    for (const header of ["access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers"]) {
      expect(preflight.headers.get(header)).toBeNull();
    }
    // Prefixes of an allowed origin are not allowed: the match is exact.
    const lookalike = await open.request("/v1/ai/tasks", { headers: { origin: `${ALLOWED}.evil.net` } });
    expect(lookalike.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("is closed by default: no origin is allowed", async () => {
    const res = await closed.request("/v1/ai/tasks", { headers: { origin: ALLOWED } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    const preflight = await fetch(`${closed.url}/v1/ai/tasks`, {
      method: "OPTIONS",
      headers: { origin: ALLOWED, "access-control-request-method": "GET", "access-control-request-headers": "authorization" },
    });
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
    expect(preflight.status).toBe(401);
    expect((await json(preflight)).status).toBe("error");
  });
});
