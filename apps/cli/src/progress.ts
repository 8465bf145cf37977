import cliProgress from "cli-progress";
import type { Batch } from "openai/resources/batches";
import { FINAL_BATCH_STATUSES } from "./batch-format";

/** Shows a batch's progress: a live bar on a terminal, a plain line every few seconds otherwise. */
export interface ProgressReporter {
  update(batch: Batch): void;
  stop(): void;
}

const PLAIN_EVERY_MS = 2_000;

/** Requests per second since the first observation, and the seconds left at that pace. */
class Pace {
  private first: { at: number; done: number } | null = null;

  measure(done: number, total: number): { rate: number; etaSeconds: number | null } {
    const now = Date.now();
    this.first ??= { at: now, done };
    const seconds = (now - this.first.at) / 1000;
    const rate = seconds > 0 ? (done - this.first.done) / seconds : 0;
    // No ETA until the total is known (a batch still validating reports total 0).
    return { rate, etaSeconds: rate > 0 && total > done ? Math.ceil((total - done) / rate) : null };
  }
}

function countsOf(batch: Batch) {
  const { completed = 0, failed = 0, total = 0 } = batch.request_counts ?? {};
  return { completed, failed, total, done: completed + failed };
}

/** ", ETA 5s" while the batch runs ("?" while unknown); nothing once it has ended: no time is left to guess. */
function etaPart(batch: Batch, seconds: number | null, separator: string): string {
  return FINAL_BATCH_STATUSES.has(batch.status) ? "" : `${separator}ETA ${formatEta(seconds)}`;
}

function formatEta(seconds: number | null): string {
  if (seconds === null) return "?";
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, "0")}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, "0")}m`;
}

export function progressReporter(stream: NodeJS.WriteStream, live: boolean): ProgressReporter {
  return live ? barReporter(stream) : plainReporter(stream);
}

function barReporter(stream: NodeJS.WriteStream): ProgressReporter {
  const pace = new Pace();
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: "{status} |{bar}| {value}/{total} done, {failed} failed | {rate}/s{eta_text}",
      hideCursor: true,
      clearOnComplete: false,
      noTTYOutput: false,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(batch) {
      const { failed, total, done } = countsOf(batch);
      const { rate, etaSeconds } = pace.measure(done, total);
      const payload = { status: batch.status.padEnd(11), failed, rate: rate.toFixed(1), eta_text: etaPart(batch, etaSeconds, " | ") };
      if (!started) {
        bar.start(total, done, payload);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(done, payload);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

function plainReporter(stream: NodeJS.WriteStream): ProgressReporter {
  const pace = new Pace();
  let lastAt = 0;
  let lastStatus = "";
  return {
    update(batch) {
      const { failed, total, done } = countsOf(batch);
      const { rate, etaSeconds } = pace.measure(done, total);
      const now = Date.now();
      if (batch.status === lastStatus && now - lastAt < PLAIN_EVERY_MS) return;
      lastAt = now;
      lastStatus = batch.status;
      stream.write(`${batch.id} ${batch.status}: ${done}/${total} done, ${failed} failed, ${rate.toFixed(1)}/s${etaPart(batch, etaSeconds, ", ")}\n`);
    },
    stop() {},
  };
}
