import { ValidationError } from "@llmq/core";
import { createLogger } from "@llmq/config";
import express, { type RequestHandler } from "express";
import request from "supertest";
import { errorHandler } from "../src/http/error-handler";
import type { Dialect } from "../src/http/principal";

// The one place errors become answers must itself never fail into Express's default error page, which
// shows a stack trace and absolute paths outside production: whatever it is given, it answers JSON.

/** A logger whose every write throws, as a broken log destination would. */
const brokenLogger = new Proxy(createLogger({ name: "test", level: "silent" }), {
  get: (target, property) => (["warn", "error", "info"].includes(String(property)) ? () => { throw new RangeError("Invalid string length"); } : Reflect.get(target, property)),
});

function appThrowing(dialect: Dialect, thrown: () => unknown, options: { logger?: typeof brokenLogger; before?: RequestHandler } = {}) {
  const app = express();
  app.use((_req, res, next) => {
    res.locals.dialect = dialect;
    next();
  });
  if (options.before) app.use(options.before);
  app.get("/boom", () => {
    throw thrown();
  });
  app.use(errorHandler(options.logger ?? createLogger({ name: "test", level: "silent" })));
  return app;
}

function expectNoStackTrace(text: string) {
  expect(text).not.toMatch(/\bat \S+ \(\S+:\d+:\d+\)|\.[cm]?[tj]s:\d+|node_modules|<html|<pre>/i);
}

describe.each(["development", "production"])("the error handler with NODE_ENV=%s", (nodeEnv) => {
  const saved = process.env.NODE_ENV;
  beforeAll(() => {
    process.env.NODE_ENV = nodeEnv;
  });
  afterAll(() => {
    process.env.NODE_ENV = saved;
  });

  it("answers a typed error with its status even when the logger throws", async () => {
    const res = await request(appThrowing("flexstack", () => new ValidationError("bad field", { param: "x" }), { logger: brokenLogger })).get("/boom");
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ status: "error", errors: [{ code: "invalid_request", param: "x", message: "bad field" }] });
  });

  it("answers a JSON 500 when building the answer itself fails (an unusable request start time)", async () => {
    const poisoned: RequestHandler = (_req, res, next) => {
      res.locals.startedAt = new Date(Number.NaN);
      next();
    };
    const res = await request(appThrowing("flexstack", () => new ValidationError("bad"), { before: poisoned })).get("/boom");
    expect(res.status).toBe(500);
    expect(res.headers["content-type"]).toMatch(/application\/json/);
    expect(res.body).toMatchObject({ status: "error", errors: [{ code: "internal_error" }] });
    expectNoStackTrace(res.text);
  });

  it.each([
    ["a number", () => 42],
    ["a string", () => "boom"],
    ["an object that cannot be serialised", () => { const cyclic: Record<string, unknown> = {}; cyclic.self = cyclic; return cyclic; }],
    ["an error whose message getter throws", () => Object.defineProperty(new Error("x"), "message", { get: () => { throw new Error("no"); } })],
  ])("answers %s thrown by a route with a JSON 500 in the OpenAI dialect", async (_what, thrown) => {
    const res = await request(appThrowing("openai", thrown, { logger: brokenLogger })).get("/boom");
    expect(res.status).toBe(500);
    expect(res.body).toMatchObject({ error: { type: "api_error", code: "internal_error" } });
    expectNoStackTrace(res.text);
  });

  it("answers 503 for Postgres out of reach and 500 for another component's refused connection (one classifier, in @llmq/db)", async () => {
    const refused = () => Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" });
    const other = await request(appThrowing("openai", refused)).get("/boom");
    expect(other.status).toBe(500);
    expect(other.body).toMatchObject({ error: { code: "internal_error" } });
    const database = await request(appThrowing("openai", () => Object.assign(new Error("terminating connection due to administrator command"), { name: "DriverAdapterError", code: "57P01" }))).get("/boom");
    expect(database.status).toBe(503);
    expect(database.headers["retry-after"]).toBe("2");
  });

  it("answers a message of any length with at most 2,048 characters of it", async () => {
    const res = await request(appThrowing("openai", () => new ValidationError("x".repeat(1_000_000)))).get("/boom");
    expect(res.status).toBe(400);
    expect(res.body.error.message.length).toBeLessThanOrEqual(2_048);
  });
});
