/**
 * The wire contract of llmq: what each dialect accepts and answers. Routes declare these schemas
 * (apps/api), `/openapi.json` is built from them, the test suite checks every response against them, and
 * the dashboard and CLI type their calls with them. zod only: safe in a browser.
 */
export * from "./flexstack/requests";
export * from "./flexstack/queries";
export * from "./flexstack/responses";
export * from "./flexstack/times";
export * from "./flexstack/account-responses";
export * from "./flexstack/upstream-responses";
export * from "./flexstack/native-batch-responses";
export * from "./flexstack/task-input";
export * from "./flexstack/auth-requests";
export * from "./flexstack/admin-requests";
export * from "./flexstack/native-batch-requests";
export * from "./flexstack/webhooks";
export * from "./openai/requests";
export * from "./openai/responses-api";
export * from "./openai/response-task-input";
export * from "./openai/response-events";
export * from "./openai/response-event-sequencer";
export * from "./openai/response-upstream";
export * from "./openai/response-items";
export * from "./openai/responses";
export * from "./openai/batch-responses";
export * from "./openai/file-responses";
export * from "./openai/task-input";
export * from "./openai/batch-lines";
export * from "./openai/batch-requests";
export * from "./openai/file-requests";
export * from "./shared/query-boolean";
export * from "./events";
export * from "./health";
export type * from "./wire-types";
