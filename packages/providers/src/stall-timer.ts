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
 * Reads a fetch body chunk by chunk with `timer` armed only while waiting on the upstream, so a slow
 * consumer is never mistaken for a stalled upstream. The first wait gets `firstMs`, later ones `idleMs`.
 */
export async function* timedChunks(
  body: ReadableStream<Uint8Array>,
  timer: StallTimer,
  firstMs: number,
  idleMs: number,
): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  let wait = firstMs;
  try {
    for (;;) {
      timer.arm(wait);
      const { done, value } = await reader.read().finally(() => timer.disarm());
      if (done) return;
      wait = idleMs;
      yield value;
    }
  } finally {
    // Stopping early (the consumer broke off, or [DONE] came) must release the connection.
    reader.cancel().catch(() => undefined);
  }
}
