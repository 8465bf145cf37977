import type { Logger } from "./logger";

export type ShutdownStep = readonly [name: string, run: () => Promise<unknown>];

/**
 * An idempotent close: the first call runs the steps in order, each on its own (one failing step
 * does not stop the others); every later call returns the same promise.
 */
export function memoisedClose(steps: readonly ShutdownStep[], logger: Logger): () => Promise<void> {
  let closing: Promise<void> | null = null;
  return () =>
    (closing ??= (async () => {
      for (const [name, run] of steps) {
        try {
          await run();
        } catch (error) {
          logger.warn({ err: error, step: name }, "shutdown step failed");
        }
      }
    })());
}
