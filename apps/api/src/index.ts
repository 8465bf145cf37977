export { createApp, type AppOptions } from "./app";
export { startApi, type RunningApi } from "./server";
export { loadApiEnv, type ApiEnv } from "./env";
export type { CheckedResponse, ResponseObserver } from "./http/response-check";
