export { createApp } from "./app";
export { startApi, type RunningApi } from "./server";
export { loadApiEnv, type ApiEnv } from "./env";
