// Preloaded into Prisma's CLI by scripts/lib.sh (migrate): its Wasm schema engine arms a 10-second timer
// it never clears, so `prisma migrate deploy` sat idle for 10 s after its last word on every run
// (strace: no network, no I/O, just the timer). Timers of 10 s or more set in the CLI are unref'd: they
// still fire if the process is alive anyway, but no longer keep it alive by themselves. Sockets and
// shorter timers (the CLI's real work) still do.
const setTimeoutBefore = global.setTimeout;
global.setTimeout = function setTimeoutUnrefLong(callback, ms, ...args) {
  const timer = setTimeoutBefore.call(this, callback, ms, ...args);
  if (typeof ms === "number" && ms >= 10_000 && timer && typeof timer.unref === "function") timer.unref();
  return timer;
};
