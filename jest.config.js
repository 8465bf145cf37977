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
  setupFiles: ["<rootDir>/packages/testkit/src/jest-setup.ts"],
};
