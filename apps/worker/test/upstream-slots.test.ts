import { UpstreamSlots } from "../src/upstream-slots";

const never = new AbortController().signal;

describe("UpstreamSlots", () => {
  it("grants at most its size at once, then serves waiting tasks round robin, one request each", async () => {
    const slots = new UpstreamSlots(2);
    const order: string[] = [];
    const held = await Promise.all([slots.acquire("a", never), slots.acquire("a", never)]);
    const waiting = [
      ...["a3", "a4", "a5"].map((name) => slots.acquire("a", never).then((release) => (order.push(name), release))),
      slots.acquire("b", never).then((release) => (order.push("b1"), release)),
      slots.acquire("c", never).then((release) => (order.push("c1"), release)),
    ];
    await Promise.resolve();
    expect(order).toEqual([]);
    for (const release of held) release();
    await new Promise((resolve) => setImmediate(resolve));
    // Two slots came free: task a's next request, then b's; c and a's others wait their turn.
    expect(order).toEqual(["a3", "b1"]);
    const releases = await Promise.all(waiting.slice(0, 1).concat(waiting.slice(3, 4)));
    for (const release of releases) release();
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(["a3", "b1", "c1", "a4"]);
  });

  it("a request aborted while waiting leaves the queue and takes no slot; releasing twice frees one slot", async () => {
    const slots = new UpstreamSlots(1);
    const first = await slots.acquire("a", never);
    const abort = new AbortController();
    const aborted = slots.acquire("b", abort.signal);
    abort.abort(new Error("cancelled"));
    await expect(aborted).rejects.toThrow("cancelled");
    first();
    first();
    const second = await slots.acquire("c", never);
    let thirdGranted = false;
    const third = slots.acquire("d", never).then((release) => ((thirdGranted = true), release));
    await new Promise((resolve) => setImmediate(resolve));
    expect(thirdGranted).toBe(false);
    second();
    (await third)();
    expect(thirdGranted).toBe(true);
  });
});
