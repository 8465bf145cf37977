import { describe, expect, it } from "vitest";
import { mergeRow } from "./rows";
import { taskRow } from "./testing";

const older = taskRow({ task_id: "a", created_at: "2026-01-01T00:00:01.000Z" });
const newer = taskRow({ task_id: "b", created_at: "2026-01-01T00:00:02.000Z" });
const ids = (rows: { task_id: string }[]) => rows.map((row) => row.task_id);

describe("mergeRow", () => {
  it("puts a new task at the top", () => {
    const created = taskRow({ task_id: "c", status: "PENDING", created_at: "2026-01-01T00:00:03.000Z", started_at: null, first_token_at: null, completed_at: null });
    expect(ids(mergeRow([newer, older], created, {}, false))).toEqual(["c", "b", "a"]);
  });
  it("replaces a known row in place as it moves on", () => {
    const running = taskRow({ task_id: "b", status: "RUNNING", percent: 20, created_at: newer.created_at, completed_at: null });
    const rows = mergeRow([running, older], newer, {}, true);
    expect(rows[0]!.status).toBe("COMPLETED");
    expect(ids(rows)).toEqual(["b", "a"]);
  });
  it("ignores an update older than what is shown", () => {
    const stale = taskRow({ task_id: "b", status: "RUNNING", percent: 20, created_at: newer.created_at, completed_at: null });
    const rows = [newer, older];
    expect(mergeRow(rows, stale, {}, true)).toBe(rows);
  });
  it("removes a row that leaves the filter, and skips new rows that do not match", () => {
    const running = taskRow({ task_id: "b", status: "RUNNING", percent: 20, created_at: newer.created_at, completed_at: null });
    expect(ids(mergeRow([running], newer, { status: "RUNNING" }, true))).toEqual([]);
    expect(ids(mergeRow([older], newer, { model: "other" }, true))).toEqual(["a"]);
  });
  it("leaves a row older than the loaded pages to the page that will bring it", () => {
    expect(ids(mergeRow([newer], older, {}, false))).toEqual(["b"]);
    expect(ids(mergeRow([newer], older, {}, true))).toEqual(["b", "a"]);
  });
});
