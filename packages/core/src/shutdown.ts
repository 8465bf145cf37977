import type { Logger } from "./logger";

/** One cleanup step: its name (for logs), the work, and how long it may take (default 5 s). */
export type ShutdownStep = readonly [name: string, run: () => Promise<unknown>, timeoutMs?: number];

const DEFAULT_STEP_TIMEOUT_MS = 5_000;

/**
 * An idempotent close with a deadline per step: the first call runs the steps in order, each on its
 * own (a failing or hanging step is logged and the next one still runs); later calls share its promise.
 */
export function memoisedClose(steps: readonly ShutdownStep[], logger: Logger): () => Promise<void> {
  let closing: Promise<void> | null = null;
  return () =>
    (closing ??= (async () => {
      for (const [name, run, timeoutMs = DEFAULT_STEP_TIMEOUT_MS] of steps) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const deadline = new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), timeoutMs);
        });
        try {
          if ((await Promise.race([run(), deadline])) === "timeout") logger.warn({ step: name, timeoutMs }, "shutdown step timed out; moving on");
        } catch (error) {
          logger.warn({ err: error, step: name }, "shutdown step failed");
        } finally {
          clearTimeout(timer);
        }
      }
    })());
}
