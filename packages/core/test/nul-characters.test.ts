import { nulCharacterPath } from "../src";

// Postgres text cannot hold NUL: input carrying one is refused where it enters, naming the field.
describe("NUL characters", () => {
  it("are found in nested strings and keys, with their path", () => {
    expect(nulCharacterPath({ a: [{ b: "ok" }, { c: "x\u0000y" }] })).toEqual(["a", "1", "c"]);
    expect(nulCharacterPath({ ["k\u0000"]: 1 })).toEqual(["k\u0000"]);
    expect(nulCharacterPath("\u0000")).toEqual([]);
    expect(nulCharacterPath({ a: ["fine", 1, null, { b: true }] })).toBeNull();
  });
});
