/** A restartable one-shot timer that remembers whether, and after how long, it went off. */
export class StallTimer {
  private timer: NodeJS.Timeout | undefined;
  private armedFor = 0;
  /** The wait that expired, in ms; null until the timer fires. */
  firedAfterMs: number | null = null;

  constructor(private readonly onStall: () => void) {}

  /** Starts (or restarts) the countdown. */
  arm(ms: number): void {
    this.disarm();
    this.armedFor = ms;
    this.timer = setTimeout(() => {
      this.firedAfterMs = this.armedFor;
      this.onStall();
    }, ms);
  }

  /** Stops the countdown; harmless when not armed. */
  disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * Reads a response body chunk by chunk with `timer` armed only while waiting on the upstream, so a slow
 * consumer is never mistaken for a stalled upstream. The first wait gets `firstMs`, later ones `idleMs`.
 * Stopping early returns `chunks`' iterator; whether that also lets go of the connection is the caller's
 * choice of iterable.
 */
export async function* timedChunks(
  chunks: AsyncIterable<Uint8Array>,
  timer: StallTimer,
  firstMs: number,
  idleMs: number,
): AsyncGenerator<Uint8Array> {
  const iterator = chunks[Symbol.asyncIterator]();
  let wait = firstMs;
  try {
    for (;;) {
      timer.arm(wait);
      let step: IteratorResult<Uint8Array>;
      try {
        step = await iterator.next();
      } finally {
        timer.disarm();
      }
      if (step.done) return;
      wait = idleMs;
      yield step.value;
    }
  } finally {
    // A failure here would hide the one that ended the loop.
    await Promise.resolve(iterator.return?.()).catch(() => undefined);
  }
}
