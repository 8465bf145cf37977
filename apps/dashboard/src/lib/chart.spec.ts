import { describe, expect, it } from "vitest";
import { linePath, niceCeiling } from "./chart";

describe("niceCeiling", () => {
  it("rounds up to 1, 2 or 5 times a power of ten", () => {
    expect([0, 0.3, 1, 3, 7, 12, 250, 501].map(niceCeiling)).toEqual([1, 0.5, 1, 5, 10, 20, 500, 1000]);
  });
});

describe("linePath", () => {
  it("draws values bottom-up across the width", () => {
    expect(linePath([0, 5, 10], 100, 50, 10)).toBe("M0,50L50,25L100,0");
  });
  it("breaks the line where there is no data", () => {
    expect(linePath([1, null, 1, 1], 30, 10, 1)).toBe("M0,0L0,0M20,0L30,0");
  });
  it("draws a lone value as a dot", () => {
    expect(linePath([null, 5, null], 100, 50, 10)).toBe("M50,25L50,25");
  });
  it("draws nothing for no values", () => {
    expect(linePath([], 100, 50, 10)).toBe("");
  });
});
