// Shared Jest setup, run in every test file before its tests; database and Redis helpers live in other testkit modules.
import { PerformanceObserver } from "node:perf_hooks";

// Jest loads every module afresh for each test file, prom-client too, and prom-client's default metrics
// (the API's and the worker's /metrics) register a garbage-collection PerformanceObserver with Node that
// nothing disconnects. Node's list of observers outlives the file, and the observer's callback, a closure
// of the file's own module realm, kept that whole realm alive: every stack the file started, ~20 MB a file,
// 1.4 GB in each Jest worker by the end of a run. The observers a test file starts are disconnected when
// it ends (a whole run then ends with 85 and 340 MB live in the two workers). A service process observes
// for its whole life, as it should: it starts one app.
const observe = PerformanceObserver.prototype.observe;
const started = new Set<PerformanceObserver>();
PerformanceObserver.prototype.observe = function (this: PerformanceObserver, ...args: Parameters<PerformanceObserver["observe"]>) {
  started.add(this);
  return observe.apply(this, args);
};
afterAll(() => {
  PerformanceObserver.prototype.observe = observe;
  for (const observer of started) observer.disconnect();
  started.clear();
});
