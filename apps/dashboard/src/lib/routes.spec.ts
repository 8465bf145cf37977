import { describe, expect, it } from "vitest";
import { parseRoute, pathOf } from "./routes";

const BASE = "/dashboard/";

describe("routes", () => {
  it("maps paths under the base to pages", () => {
    expect(parseRoute("/dashboard/", BASE)).toEqual({ page: "tasks" });
    expect(parseRoute("/dashboard/tasks", BASE)).toEqual({ page: "tasks" });
    expect(parseRoute("/dashboard/tasks/abc123", BASE)).toEqual({ page: "task", taskId: "abc123" });
    expect(parseRoute("/dashboard/queues/", BASE)).toEqual({ page: "queues" });
    expect(parseRoute("/dashboard/batches", BASE)).toEqual({ page: "batches" });
    expect(parseRoute("/dashboard/account", BASE)).toEqual({ page: "account" });
    expect(parseRoute("/dashboard/nope/x/y", BASE)).toEqual({ page: "not-found" });
  });
  it("round-trips task ids, odd characters included", () => {
    const route = { page: "task" as const, taskId: "a b/c" };
    expect(parseRoute(pathOf(route, BASE), BASE)).toEqual(route);
  });
});
