import type { Express } from "express";
import { json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ worker: false });
});
afterAll(async () => {
  await stack.close();
});

/** The parts of Express 5's router layers this test reads. */
interface Layer {
  rawPath?: unknown;
  route?: { path: unknown; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
}

const HTTP_METHODS = new Set(["get", "post", "put", "patch", "delete"]);

/**
 * Every `METHOD /path` the app serves, read from its router stack: route layers give their path and
 * methods, router layers (`app.use(prefix, router)`) their prefix. Paths come out in OpenAPI's form.
 */
function servedRoutes(stack: Layer[], prefix = ""): Set<string> {
  const routes = new Set<string>();
  for (const layer of stack) {
    if (layer.route) {
      const path = (prefix + String(layer.route.path)).replace(/[:*](\w+)/g, "{$1}"); // Express 5: `:name` and the wildcard `*name`
      for (const [method, on] of Object.entries(layer.route.methods)) {
        if (on && HTTP_METHODS.has(method)) routes.add(`${method.toUpperCase()} ${path}`);
      }
    } else if (Array.isArray(layer.handle.stack)) {
      // A router mounted at several paths (`app.use(["/v1/ai", "/ai"], ...)`) serves its routes under each.
      const raws = Array.isArray(layer.rawPath) ? layer.rawPath : [typeof layer.rawPath === "string" ? layer.rawPath : ""];
      for (const raw of raws) {
        const base = prefix + (raw === "/" ? "" : String(raw));
        for (const route of servedRoutes(layer.handle.stack, base)) routes.add(route);
      }
    }
  }
  return routes;
}

describe("health", () => {
  it("answers /healthz without a key", async () => {
    const res = await fetch(`${stack.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ status: "ok" });
  });

  it("answers /readyz with Postgres and Redis checked", async () => {
    const res = await fetch(`${stack.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ status: "ready", checks: { postgres: "ok", redis: "ok" } });
  });
});

describe("OpenAPI document", () => {
  it("is OpenAPI 3.1, served without a key", async () => {
    const res = await fetch(`${stack.url}/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/json");
    const doc = await json(res);
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info.title).toEqual(expect.any(String));
    expect(doc.info.version).toEqual(expect.any(String));
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
  });

  it("documents exactly the routes the app serves, with their methods", async () => {
    const doc = await json(await fetch(`${stack.url}/openapi.json`));
    const documented = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(item)) if (HTTP_METHODS.has(method)) documented.add(`${method.toUpperCase()} ${path}`);
    }
    // The running server's own app, not a second one built for the test.
    const app = stack.api.server.listeners("request")[0] as Express;
    const served = servedRoutes((app as unknown as { router: { stack: Layer[] } }).router.stack);

    // The walk itself must have found routes at every mount point, or the comparison proves nothing.
    for (const route of ["GET /openapi.json", "GET /healthz", "POST /v1/ai/text_completion", "POST /ai/text_completion", "GET /ai/batches/{batchId}", "GET /v1/ai/tasks/{taskId}", "DELETE /v1/admin/keys/{keyId}"]) {
      expect(served).toContain(route);
    }
    expect([...served].sort()).toEqual([...documented].sort());
  });

  it("describes every operation's responses, and the request body of every POST that reads one", async () => {
    const doc = await json(await fetch(`${stack.url}/openapi.json`));
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [method, operation] of Object.entries(item)) {
        if (!HTTP_METHODS.has(method)) continue;
        expect({ path, method, summary: typeof operation.summary }).toEqual({ path, method, summary: "string" });
        expect(Object.keys(operation.responses).length).toBeGreaterThan(0);
        const params = (path.match(/\{(\w+)\}/g) ?? []).map((p) => p.slice(1, -1));
        const declared = (operation.parameters ?? []).filter((p: any) => p.in === "path").map((p: any) => p.name);
        expect(declared.sort()).toEqual(params.sort());
      }
    }
    expect(doc.paths["/v1/ai/text_completion"].post.requestBody.content["application/json"].schema).toBeDefined();
    expect(doc.paths["/v1/admin/keys"].post.requestBody.content["application/json"].schema).toBeDefined();
  });
});

describe("Swagger UI", () => {
  it("serves the docs page as HTML without a key", async () => {
    const res = await fetch(`${stack.url}/docs/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    const html = await res.text();
    expect(html).toContain("swagger-ui");
    expect(html.toLowerCase()).toContain("<html");
  });

  it("answers /docs and serves the page's script, which embeds this API's document", async () => {
    const res = await fetch(`${stack.url}/docs`, { redirect: "manual" });
    expect([200, 301, 302]).toContain(res.status);
    const init = await fetch(`${stack.url}/docs/swagger-ui-init.js`);
    expect(init.status).toBe(200);
    const script = await init.text();
    expect(script).toContain("/v1/ai/text_completion");
  });
});
