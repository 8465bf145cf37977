// Preloaded into the bench's API processes (node --expose-gc --require): on SIGWINCH, two full garbage
// collections, then process.memoryUsage() written to BENCH_MEM_FILE.<pid> (each process of a cluster its
// own). Figure 6 reads memory per open stream after a collection, so the figure does not depend on when
// V8 last collected.
const fs = require("node:fs");
process.on("SIGWINCH", () => {
  global.gc();
  global.gc();
  fs.writeFileSync(`${process.env.BENCH_MEM_FILE}.${process.pid}`, JSON.stringify(process.memoryUsage()));
});
