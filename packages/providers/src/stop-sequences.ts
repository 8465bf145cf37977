/**
 * Filters streamed text against stop sequences: holds back any tail that could still grow into one,
 * so a stop sequence is never emitted, even when it spans deltas.
 */
export class StopSequenceFilter {
  private readonly stops: string[];
  private held = "";

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((stop) => stop.length > 0);
  }

  /** Feeds the next delta; returns the text now safe to emit, and whether a stop sequence was hit. */
  push(delta: string): { text: string; stopped: boolean } {
    const buffer = this.held + delta;
    let cut = -1;
    for (const stop of this.stops) {
      const at = buffer.indexOf(stop);
      if (at !== -1 && (cut === -1 || at < cut)) cut = at;
    }
    if (cut !== -1) {
      this.held = "";
      return { text: buffer.slice(0, cut), stopped: true };
    }
    const keep = this.pendingLength(buffer);
    this.held = buffer.slice(buffer.length - keep);
    return { text: buffer.slice(0, buffer.length - keep), stopped: false };
  }

  /** Releases the held-back tail once generation ends without a stop sequence. */
  flush(): string {
    const rest = this.held;
    this.held = "";
    return rest;
  }

  // Length of the longest suffix of `buffer` that is the start of some stop sequence.
  private pendingLength(buffer: string): number {
    for (let length = Math.min(buffer.length, this.longestStop() - 1); length > 0; length--) {
      const tail = buffer.slice(buffer.length - length);
      if (this.stops.some((stop) => stop.startsWith(tail))) return length;
    }
    return 0;
  }

  private longestStop(): number {
    return this.stops.reduce((max, stop) => Math.max(max, stop.length), 0);
  }
}
