/** Jest runs TypeScript through SWC; every suite talks to the real Postgres and Redis that scripts/test.sh starts. */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/apps", "<rootDir>/packages"],
  testMatch: ["**/test/**/*.test.ts"],
  transform: { "^.+\\.tsx?$": ["@swc/jest", { jsc: { target: "es2022" }, module: { type: "commonjs" } }] },
  testTimeout: 60_000,
  maxWorkers: 2,
  setupFiles: ["<rootDir>/packages/testkit/src/jest-setup.ts"],
};
