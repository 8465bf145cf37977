import type { Attempt, StartResult } from "@llmq/engine";
import type { TaskEvent } from "@llmq/queue";

/** An event of an attempt whose number may not be known yet. */
export type AttemptEvent = (attempt: number) => TaskEvent;

/**
 * Holds an attempt's events until its number is known. The upstream request may start before the
 * attempt's start has committed (the attempt runner starts both at once); its tokens wait here, and are
 * written, in order and after the attempt's RUNNING event, once the start answers. When the start answers
 * that the task may not run (cancelled, finished, expired), the held events are dropped.
 */
export class AttemptGate {
  private attempt: Attempt | null = null;
  private refused = false;
  private held: AttemptEvent[] = [];
  readonly settled: Promise<Attempt | null>;

  constructor(
    start: Promise<StartResult>,
    private readonly write: (events: TaskEvent[]) => void,
    onRefused: () => void,
  ) {
    this.settled = start.then((result) => {
      if (result.kind !== "started") {
        this.refused = true;
        this.held = [];
        onRefused();
        return null;
      }
      this.attempt = result.attempt;
      const held = this.held;
      this.held = [];
      if (held.length > 0) this.write(held.map((make) => make(result.attempt.attempt)));
      return result.attempt;
    });
    // Handled here too: a start that fails (Postgres out of reach) is awaited by the runner later.
    this.settled.catch(() => undefined);
  }

  /**
   * Called by the attempt's start as soon as it has committed (TaskTransitions.start's `heldEvents`): the
   * events held so far, numbered, for the start to write in the same append as its RUNNING event, so the
   * first token does not wait for a second write. Events emitted after this and before the start's answer
   * reaches the gate are held and written then.
   */
  release(attempt: number): TaskEvent[] {
    const held = this.held;
    this.held = [];
    return held.map((make) => make(attempt));
  }

  /** The attempt, once its start has committed; null before (checkpoints wait for it). */
  get known(): Attempt | null {
    return this.attempt;
  }

  /** Writes the event now if the attempt is known, holds it otherwise, drops it if the task may not run. */
  emit(make: AttemptEvent): void {
    if (this.attempt) this.write([make(this.attempt.attempt)]);
    else if (!this.refused) this.held.push(make);
  }
}
