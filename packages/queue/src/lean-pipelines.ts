/**
 * ioredis pipelines that the young generation can collect.
 *
 * ioredis 6's `Pipeline` constructor gives every pipeline its own `length` accessor
 * (`Object.defineProperty(this, "length", { get: () => _this._queue.length })`). V8 allocates the accessor
 * pair of an own accessor property in the old generation. That pair is garbage once the pipeline is done, but
 * only a full collection frees it; until then the old generation points at the pipeline's getter closure, so
 * every young collection keeps the closure, the pipeline and everything it holds (its commands, their
 * promises and replies) alive and promotes them. With auto-pipelining every tick that sends a command
 * builds a pipeline, so this was most of what both services promoted: a young collection's pause grows with
 * what it copies (measured: 4.7-5.6 MB promoted and a 10-12 ms pause per collection for a loop of pipelined
 * commands, 0.2-0.3 MB and 1.5-1.8 ms once the accessor is shared; docs/performance.md).
 *
 * `installLeanPipelines` replaces the module's constructor (what `redis.pipeline()`, `redis.multi()` and
 * auto-pipelining build) with one that sets the same own properties in the same order, and defines
 * `length` once, on the prototype. The prototype, and so every method and `instanceof Pipeline`, is
 * ioredis's own. It installs only when ioredis's constructor still builds exactly the properties this one
 * copies (checked once, against a pipeline built by the original); otherwise ioredis is left as it is
 * and the function returns false (the test suite fails then, so an upgrade is looked at).
 */

// ioredis's Pipeline module: `default` is read by `new Pipeline_1.default(...)` at each call (transaction.js).
const pipelineModule = require("ioredis/built/Pipeline") as { default: PipelineConstructor };

interface PipelineHost {
  options: unknown;
  scriptsSet: Record<string, { sha: string }>;
  addedBuiltinSet: Set<string>;
  isCluster?: boolean;
  constructor: { name: string };
  [command: string]: unknown;
}

type PipelineConstructor = { new (redis: PipelineHost): Record<string, unknown>; prototype: object };

/** The constructor ioredis shipped (kept for the shape check and the tests). */
export const originalPipeline: PipelineConstructor = pipelineModule.default;

function LeanPipeline(this: Record<string, unknown>, redis: PipelineHost): void {
  // Commander's constructor, then Pipeline's, in their order (one hidden class for every pipeline).
  this.options = {};
  this.scriptsSet = {};
  this.addedBuiltinSet = new Set();
  this.redis = redis;
  this.isPipeline = true;
  this.replyPending = 0;
  this._queue = [];
  this._result = [];
  this._transactions = 0;
  const shaToScript: Record<string, unknown> = {};
  this._shaToScript = shaToScript;
  this.isCluster = redis.constructor.name === "Cluster" || redis.isCluster;
  this.options = redis.options;
  for (const name of Object.keys(redis.scriptsSet)) {
    const script = redis.scriptsSet[name]!;
    shaToScript[script.sha] = script;
    this[name] = redis[name];
    this[`${name}Buffer`] = redis[`${name}Buffer`];
  }
  for (const name of redis.addedBuiltinSet) {
    this[name] = redis[name];
    this[`${name}Buffer`] = redis[`${name}Buffer`];
  }
  this.promise = new Promise((resolve, reject) => {
    this.resolve = resolve;
    this.reject = reject;
  });
}

/** A pipeline's own enumerable keys, in order, and whether `length` is an own accessor on it. */
export function pipelineShape(pipeline: object): { keys: string[]; ownLength: boolean } {
  return { keys: Object.keys(pipeline), ownLength: Object.getOwnPropertyDescriptor(pipeline, "length")?.get !== undefined };
}

let installed: boolean | undefined;

/** Installs the lean constructor once per process; true when it is in place (see above). */
export function installLeanPipelines(): boolean {
  if (installed !== undefined) return installed;
  const probeHost: PipelineHost = { options: {}, scriptsSet: {}, addedBuiltinSet: new Set(), isCluster: false, constructor: Object };
  const theirs = pipelineShape(new originalPipeline(probeHost));
  const ours = pipelineShape(new (LeanPipeline as unknown as PipelineConstructor)(probeHost));
  if (!theirs.ownLength || theirs.keys.join() !== ours.keys.join()) {
    installed = false;
    return installed;
  }
  LeanPipeline.prototype = originalPipeline.prototype;
  Object.defineProperty(originalPipeline.prototype, "length", {
    configurable: true,
    get(this: { _queue: unknown[] }) {
      return this._queue.length;
    },
  });
  pipelineModule.default = LeanPipeline as unknown as PipelineConstructor;
  installed = true;
  return installed;
}
