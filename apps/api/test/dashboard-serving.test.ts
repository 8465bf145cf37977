import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { serveDashboard } from "../src/dashboard/serve";
import express from "express";
import request from "supertest";

/** A built-looking dashboard in a temporary folder. */
function fakeBuild(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llmq-dashboard-"));
  fs.mkdirSync(path.join(dir, "assets"));
  fs.writeFileSync(path.join(dir, "index.html"), "<!doctype html><title>llmq</title>");
  fs.writeFileSync(path.join(dir, "assets", "index-abc123.js"), "console.log('app')");
  return dir;
}

function appServing(dir: string) {
  const app = express();
  app.use("/dashboard", serveDashboard({ dir }));
  app.use((_req, res) => res.status(404).send("not found"));
  return app;
}

describe("serving the dashboard at /dashboard", () => {
  const dir = fakeBuild();
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("answers every page path with index.html, under a strict content security policy", async () => {
    for (const pathname of ["/dashboard/", "/dashboard/tasks", "/dashboard/tasks/abc?status=RUNNING", "/dashboard/queues"]) {
      const res = await request(appServing(dir)).get(pathname);
      expect({ pathname, status: res.status, type: res.type }).toEqual({ pathname, status: 200, type: "text/html" });
      expect(res.text).toContain("<title>llmq</title>");
      expect(res.headers["cache-control"]).toBe("no-cache");
      expect(res.headers["content-security-policy"]).toContain("default-src 'self'");
    }
  });

  it("serves hashed assets for good, and a missing asset is a 404, not the page", async () => {
    const asset = await request(appServing(dir)).get("/dashboard/assets/index-abc123.js");
    expect(asset.status).toBe(200);
    expect(asset.headers["cache-control"]).toContain("immutable");
    const missing = await request(appServing(dir)).get("/dashboard/assets/gone.js");
    expect(missing.status).toBe(404);
  });

  it("redirects /dashboard to /dashboard/, keeping the query", async () => {
    const res = await request(appServing(dir)).get("/dashboard?status=FAILED");
    expect(res.status).toBe(308);
    expect(res.headers.location).toBe("/dashboard/?status=FAILED");
  });

  it("leaves other methods to the routes after it", async () => {
    expect((await request(appServing(dir)).post("/dashboard/tasks")).status).toBe(404);
  });

  it("says how to build the app when it is not built", async () => {
    const res = await request(appServing(path.join(dir, "missing"))).get("/dashboard/tasks");
    expect(res.status).toBe(503);
    expect(res.text).toContain("npm run build -w @llmq/dashboard");
  });
});
