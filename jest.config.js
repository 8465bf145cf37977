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
  // A worker's heap grows by ~17 MB a suite (1.4 GB used, 2.1 GB RSS after its ~80 suites). Its event loop
  // drains as soon as it is told to end, but Node then takes longer than Jest's 500 ms to free a heap that
  // size, so Jest killed both workers and printed "A worker process has failed to exit gracefully" at the
  // end of every run, though nothing was left open. A worker past 512 MB is started afresh between suites.
  workerIdleMemoryLimit: "512MB",
  setupFiles: ["<rootDir>/packages/testkit/src/jest-setup.ts"],
};
