import { TASK_STATUSES, canTransition, isFinal, statusesLeadingTo } from "../src";

describe("task statuses", () => {
  it("knows which statuses are final", () => {
    expect(TASK_STATUSES.filter(isFinal)).toEqual(["COMPLETED", "FAILED", "CANCELLED", "EXPIRED"]);
  });

  it("never leaves a final status", () => {
    for (const from of TASK_STATUSES.filter(isFinal)) {
      for (const to of TASK_STATUSES) expect(canTransition(from, to)).toBe(false);
    }
  });

  it("gives the WHERE clause of each conditional update", () => {
    expect(statusesLeadingTo("RUNNING")).toEqual(["PENDING", "RUNNING"]);
    expect(statusesLeadingTo("COMPLETED")).toEqual(["RUNNING"]);
    expect(statusesLeadingTo("CANCELLED")).toEqual(["PENDING", "RUNNING"]);
    expect(statusesLeadingTo("EXPIRED")).toEqual(["PENDING"]);
  });
});
