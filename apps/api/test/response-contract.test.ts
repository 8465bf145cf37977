import { createLogger } from "@llmq/config";
import { eventually, json as readJson } from "@llmq/testkit";
import { ResponseLedger, type TestStack, startTestStack } from "@llmq/stack";
import express from "express";
import request from "supertest";
import { z } from "zod";
import { errorHandler } from "../src/http/error-handler";
import { type CheckedResponse, checkResponses } from "../src/http/response-check";
import { DeclaredRouter, assertServesDeclaredRoutes, route } from "../src/http/route";
import { buildOpenApiDocument } from "../src/openapi/document";
import { aliasesOf } from "../src/http/path-aliases";
import { API_ROUTES } from "../src/openapi/routes";
import { flexstackErrors, json } from "../src/openapi/responses";

// Every answer a test receives from a declared route is held against its declaration (the testkit's
// ResponseLedger fails the suite at close): the document cannot drift from what the routes send.

describe("the response check", () => {
  const widget = route({
    method: "get",
    path: "/v1/widgets/{id}",
    summary: "A widget",
    request: { params: z.object({ id: z.string() }) },
    responses: { 200: json("The widget.", z.object({ id: z.string(), size: z.number() })), ...flexstackErrors },
  });

  /** An app serving `widget` with `handler`, every answer checked and recorded. */
  function appAnswering(handler: (id: string, res: express.Response) => unknown) {
    const checked: CheckedResponse[] = [];
    const app = express();
    app.use(checkResponses([widget], (response) => checked.push(response)));
    app.use((_req, res, next) => {
      res.locals.dialect = "flexstack";
      next();
    });
    const router = new DeclaredRouter("/v1").handle(widget, ({ params }, _req, res) => handler(params.id, res));
    app.use("/v1", router.router);
    app.use(errorHandler(createLogger({ name: "test", level: "silent" })));
    return { app, checked };
  }

  it("passes a body its declared schema accepts", async () => {
    const { app, checked } = appAnswering((id, res) => res.json({ id, size: 3 }));
    expect((await request(app).get("/v1/widgets/w1")).status).toBe(200);
    expect(checked).toEqual([{ route: "GET /v1/widgets/{id}", status: 200 }]);
  });

  it("flags a drifted body: a field of the wrong type, a required field missing", async () => {
    const { app, checked } = appAnswering((id, res) => res.json({ id: Number(id.length), extra: true }));
    expect((await request(app).get("/v1/widgets/w1")).status).toBe(200);
    expect(checked).toHaveLength(1);
    expect(checked[0]!.problem).toMatch(/body does not match the declared 200 schema: id: .*string.*; size: /);
  });

  it("flags a status the route does not declare, and passes a declared error", async () => {
    const { app, checked } = appAnswering((_id, res) => res.status(418).json({ teapot: true }));
    expect((await request(app).get("/v1/widgets/w1")).status).toBe(418);
    expect(checked[0]).toMatchObject({ route: "GET /v1/widgets/{id}", status: 418, problem: "status 418 is not declared" });

    const missing = appAnswering(() => {
      throw new (class extends Error {})("boom");
    });
    expect((await request(missing.app).get("/v1/widgets/w1")).status).toBe(500);
    expect(missing.checked[0]).toMatchObject({ status: 500, problem: "status 500 is not declared" });
  });

  it("flags a Server-Sent Event the route does not declare, or whose data its schema refuses", async () => {
    const ticker = route({
      method: "get",
      path: "/v1/ticks",
      summary: "Ticks",
      responses: { 200: { description: "Ticks.", content: { "text/event-stream": z.string() }, events: { tick: z.object({ n: z.number() }) } } },
    });
    const answer = (frames: { event: string; data: unknown }[]) => {
      const checked: CheckedResponse[] = [];
      const app = express();
      app.use(checkResponses([ticker], (response) => checked.push(response)));
      app.use(
        "/v1",
        new DeclaredRouter("/v1").handle(ticker, (_input, _req, res) => {
          res.status(200).set("Content-Type", "text/event-stream");
          for (const frame of frames) {
            res.locals.checkSseEvent?.(frame.event, frame.data);
            res.write(`event: ${frame.event}\ndata: ${JSON.stringify(frame.data)}\n\n`);
          }
          res.end();
        }).router,
      );
      return { app, checked };
    };
    const good = answer([{ event: "tick", data: { n: 1 } }, { event: "tick", data: JSON.stringify({ n: 2 }) }]);
    await request(good.app).get("/v1/ticks");
    expect(good.checked).toEqual([{ route: "GET /v1/ticks", status: 200 }]);

    const drifted = answer([{ event: "tick", data: { n: "one" } }]);
    await request(drifted.app).get("/v1/ticks");
    expect(drifted.checked[0]!.problem).toMatch(/^event 'tick' does not match its declared schema: n: .*number/);

    const undeclared = answer([{ event: "tock", data: {} }]);
    await request(undeclared.app).get("/v1/ticks");
    expect(undeclared.checked[0]!.problem).toBe("sent event 'tock', which 200 does not declare");
  });

  it("fails the suite through the ledger, naming the route, the status and the problem", () => {
    const ledger = new ResponseLedger(null); // not counted in a run's tally
    ledger.observe({ route: "GET /v1/widgets/{id}", status: 200 });
    expect(() => ledger.assertClean()).not.toThrow();
    ledger.observe({ route: "GET /v1/widgets/{id}", status: 418, problem: "status 418 is not declared" });
    expect(() => ledger.assertClean()).toThrow("1 of 2 responses do not match their route's declaration (apps/api route()):\n  GET /v1/widgets/{id} -> 418: status 418 is not declared");
  });
});

describe("the app's routes and their declarations", () => {
  const a = route({ method: "get", path: "/v1/a", summary: "A", responses: { 200: { description: "A." } } });
  const b = route({ method: "post", path: "/v1/b", summary: "B", responses: { 200: { description: "B." } } });

  it("must match one to one, or the app does not start", () => {
    expect(() => assertServesDeclaredRoutes([a, b], [a, b])).not.toThrow();
    expect(() => assertServesDeclaredRoutes([a], [a, b])).toThrow("declared but not served: POST /v1/b");
    expect(() => assertServesDeclaredRoutes([a, b], [a])).toThrow("POST /v1/b is served but missing from API_ROUTES");
    expect(() => assertServesDeclaredRoutes([a, a], [a])).toThrow("GET /v1/a is bound twice");
  });

  it("are what /openapi.json is assembled from, and nothing else (each under its path and its aliases: /ai for /v1/ai)", () => {
    const document = buildOpenApiDocument();
    const documented = Object.entries(document.paths ?? {}).flatMap(([path, item]) => Object.keys(item ?? {}).map((method) => `${method.toUpperCase()} ${path}`));
    const declared = API_ROUTES.flatMap((d) => [d.path, ...aliasesOf(d.path)].map((path) => `${d.method.toUpperCase()} ${path.replace("+}", "}")}`));
    expect(declared).toContain("POST /ai/text_completion");
    expect(documented.sort()).toEqual(declared.sort());
  });

  it("document the headers answers carry: X-RateLimit-* and Retry-After on the rate-limited routes, x-llmq-overhead-ms on waited completions", () => {
    const paths = buildOpenApiDocument().paths ?? {};
    const headersOf = (path: string, status: string) => Object.keys((paths[path]?.post?.responses?.[status] as { headers?: object } | undefined)?.headers ?? {});
    const rateLimit = ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"];
    const limited = { "/v1/ai/text_completion": "200", "/v1/ai/tasks/{taskId}/retry": "201", "/v1/chat/completions": "200", "/v1/completions": "200", "/v1/ai/batches": "200", "/v1/batches": "200" };
    for (const [path, ok] of Object.entries(limited)) {
      expect({ path, ok: headersOf(path, ok) }).toEqual({ path, ok: expect.arrayContaining(rateLimit) });
      expect({ path, refused: headersOf(path, "429") }).toEqual({ path, refused: expect.arrayContaining([...rateLimit, "Retry-After"]) });
    }
    for (const path of ["/v1/ai/text_completion", "/v1/chat/completions", "/v1/completions"]) expect(headersOf(path, "200")).toContain("x-llmq-overhead-ms");
  });
});

describe("the declared responses of the real routes", () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterAll(async () => {
    await stack.close();
  });

  it("describe a task created through the OpenAI dialect, seen through the task API (no top_k, temperature or string content)", async () => {
    const res = await stack.request("/v1/chat/completions", {
      method: "POST",
      headers: { prefer: "respond-async" },
      json: { model: "gemma-7b", messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }], max_tokens: 5 },
    });
    expect(res.status).toBe(202);
    const taskId = res.headers.get("x-task-id")!;
    await eventually(async () => {
      const view = await readJson(await stack.request(`/v1/ai/tasks/${taskId}`));
      return view.data.data.status === "COMPLETED" ? view : undefined;
    });
    const history = await stack.request(`/v1/ai/tasks?limit=5`);
    expect(history.status).toBe(200);
    expect(stack.responses.problems).toEqual([]);
    expect(stack.responses.checked).toBeGreaterThanOrEqual(3);
  });
});
