// The whole service in a test's process: the API and a worker on real Postgres and Redis. A test workspace
// of its own because it imports the apps, and no package may (packages/testkit holds what needs no app).
export { startTestStack, FAST_AND_SLOW_MODELS, DEFAULT_TEST_MODELS, type TestStack, type TestStackOptions, type SpawnedApi } from "./stack";
export { ResponseLedger } from "./response-ledger";
