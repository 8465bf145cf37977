// Preloaded into the bench's API processes (node --expose-gc --require): on SIGWINCH, a full garbage
// collection that also reduces the heap's footprint, then process.memoryUsage() and V8's heap spaces
// written to BENCH_MEM_FILE.<pid> (each process of a cluster its own). Figure 6 reads memory per open
// stream after it, so the figure depends neither on when V8 last collected nor on how large V8 had let
// its young generation grow (see docs/performance.md, "Issue 13, last round: memory per open stream").
const fs = require("node:fs");
const v8 = require("node:v8");
process.on("SIGWINCH", () => {
  // "last-resort" is V8's memory-reducing full GC (several passes until nothing more is freed): it also
  // shrinks the young generation to its minimum and releases pooled pages, which a plain gc() leaves as
  // they were (tens of MiB that the allocation rate sized, not the open streams). Bytecode flushing is
  // paused for it: that GC would otherwise drop the bytecode of every function not running, which the
  // next requests compile again, and the two readings of a difference would not flush alike.
  v8.setFlagsFromString("--no-flush-bytecode");
  global.gc({ type: "major", execution: "sync", flavor: "last-resort" });
  v8.setFlagsFromString("--flush-bytecode");
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, { used: s.space_used_size, physical: s.physical_space_size }]));
  fs.writeFileSync(`${process.env.BENCH_MEM_FILE}.${process.pid}`, JSON.stringify({ ...process.memoryUsage(), spaces }));
});
