/** Jest runs TypeScript through SWC; every suite talks to the real Postgres and Redis that scripts/test.sh starts. */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/apps", "<rootDir>/packages", "<rootDir>/tests"],
  testMatch: ["**/test/**/*.test.ts"],
  // Build output (packages/client/dist holds a package.json of its own, the manifest it is published with).
  modulePathIgnorePatterns: ["<rootDir>/(apps|packages)/[^/]+/dist/"],
  transform: { "^.+\\.[cm]?[tj]sx?$": ["@swc/jest", { jsc: { target: "es2022" }, module: { type: "commonjs" } }] },
  // eventsource-parser and jose ship ESM only; compile them to CommonJS like our own code.
  transformIgnorePatterns: ["/node_modules/(?!(eventsource-parser|jose)/)"],
  testTimeout: 60_000,
  maxWorkers: 2,
  // A worker's heap grows by ~17 MB a suite (1.4 GB used, 2.1 GB RSS after its ~80 suites). Told to end, its
  // event loop drains at once (nothing left open), but Node then frees that heap for longer than Jest's
  // default 500 ms, and Jest killed both workers and printed "A worker process has failed to exit
  // gracefully" at the end of every run. A worker that truly hangs is still killed after this, with that warning.
  // (workerIdleMemoryLimit is no cure: Jest reads a worker's memory after it has already sent it the next
  // suite, and restarts it mid-suite; a killed suite leaves the servers it started running.)
  workerGracefulExitTimeout: 5_000,
  setupFiles: ["<rootDir>/packages/testkit/src/jest-setup.ts"],
};
