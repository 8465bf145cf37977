export { createRuntime, type Runtime, type RuntimeConnections, type RuntimeOptions } from "./runtime";
