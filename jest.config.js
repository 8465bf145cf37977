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
  // Told to end, a worker's event loop drains at once (nothing left open), but Node then frees its heap (a
  // few hundred MB by the end of a run, garbage included) for longer than Jest's default 500 ms, and Jest
  // killed the workers and printed "A worker process has failed to exit gracefully" (seen again with the
  // default after the leak below was fixed). A worker that truly hangs is still killed after this, with that warning.
  // (workerIdleMemoryLimit is no cure: Jest reads a worker's memory after it has already sent it the next
  // suite, and restarts it mid-suite; a killed suite leaves the servers it started running.)
  workerGracefulExitTimeout: 5_000,
  // Disconnects the GC observers a test file started, which kept every file's modules alive (jest-setup.ts).
  setupFilesAfterEnv: ["<rootDir>/packages/testkit/src/jest-setup.ts"],
};
