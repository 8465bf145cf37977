import { describe, expect, it } from "vitest";
import { filtersFromQuery, filtersToQuery, historyParams, matchesFilters } from "./filters";
import { taskRow } from "./testing";

describe("filters <-> query string", () => {
  it("round-trips every filter", () => {
    const filters = { status: "RUNNING" as const, model: "gemma-7b", batch_id: "b1", created_from: "2026-01-01T10:00", created_to: "2026-01-02T10:00", user_id: "u1" };
    expect(filtersFromQuery(filtersToQuery(filters))).toEqual(filters);
  });
  it("drops empty and unknown values", () => {
    expect(filtersFromQuery("?status=BOGUS&model=&batch_id=%20&other=1")).toEqual({});
    expect(filtersToQuery({})).toBe("");
  });
  it("sends dates to the API as ISO instants, with the cursor and limit", () => {
    const params = historyParams({ created_from: "2026-01-01T10:00", status: "FAILED" }, { cursor: "abc", limit: 50 });
    expect(params.get("created_from")).toBe(new Date("2026-01-01T10:00").toISOString());
    expect(params.get("status")).toBe("FAILED");
    expect(params.get("cursor")).toBe("abc");
    expect(params.get("limit")).toBe("50");
  });
  it("leaves out a date that does not parse", () => {
    expect(historyParams({ created_to: "not a date" }, { limit: 10 }).has("created_to")).toBe(false);
  });
});

describe("matchesFilters", () => {
  it("checks status, model, batch, owner and the date range", () => {
    const row = taskRow({ status: "RUNNING", batch_id: "b1", owner_id: "u1", created_at: "2026-01-01T12:00:00.000Z" });
    expect(matchesFilters(row, {})).toBe(true);
    expect(matchesFilters(row, { status: "RUNNING", model: "gemma-7b", batch_id: "b1", user_id: "u1" })).toBe(true);
    expect(matchesFilters(row, { status: "COMPLETED" })).toBe(false);
    expect(matchesFilters(row, { model: "other" })).toBe(false);
    expect(matchesFilters(row, { batch_id: "b2" })).toBe(false);
    expect(matchesFilters(row, { user_id: "u2" })).toBe(false);
    const iso = (s: string) => new Date(s);
    const local = (d: Date) => new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
    expect(matchesFilters(row, { created_from: local(iso("2026-01-01T13:00:00Z")) })).toBe(false);
    expect(matchesFilters(row, { created_to: local(iso("2026-01-01T11:00:00Z")) })).toBe(false);
    expect(matchesFilters(row, { created_from: local(iso("2026-01-01T11:00:00Z")), created_to: local(iso("2026-01-01T13:00:00Z")) })).toBe(true);
  });
});
