export interface TickBatchOptions<I, O> {
  /** Runs every item of a tick together (one statement), answering each in order. */
  runMany: (items: I[]) => Promise<O[]>;
  /** Most items in one batch; more in the same tick form the next one. */
  maxItems?: number;
  /**
   * Most batches running at once (default 2). Items that arrive while that many are on their way wait
   * and leave together as soon as one comes back: under load, batches grow instead of multiplying.
   */
  maxInFlight?: number;
  /** Errors every item would meet alone too (the database out of reach): not retried one by one. */
  sharedFailure?: (error: unknown) => boolean;
}

interface Waiting<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

/**
 * Calls made together run together: `run(item)` queues the item, and once the code that queued it yields
 * (a microtask) the queued items go to `runMany` at once, so N concurrent requests cost one statement
 * instead of N. It is a group commit: when `maxInFlight` batches are already on their way, new items wait
 * for the first of them to come back and then leave together, so the busier the database, the larger and
 * fewer the statements; an idle one sends a lone call at once. Each caller gets its own answer.
 * When a batch fails for a reason of its own (one bad row), its items are run again one by one, so one bad
 * item fails alone and its neighbours succeed; a shared failure (Postgres down) fails them all at once.
 */
export class TickBatch<I, O> {
  private waiting: Waiting<I, O>[] = [];
  private scheduled = false;
  private inFlight = 0;
  private readonly maxItems: number;
  private readonly maxInFlight: number;

  constructor(private readonly options: TickBatchOptions<I, O>) {
    this.maxItems = options.maxItems ?? 500;
    this.maxInFlight = options.maxInFlight ?? 2;
  }

  run(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight || this.waiting.length === 0) return;
    this.scheduled = true;
    // As soon as the code that queued the item yields, not a turn later: what it does next (an attempt
    // preparing its upstream request) would otherwise delay the statement. Calls of the same run of code
    // still go together, and under load the in-flight bound makes the batches.
    queueMicrotask(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    while (this.waiting.length > 0 && this.inFlight < this.maxInFlight) {
      const batch = this.waiting.splice(0, this.maxItems);
      this.inFlight++;
      void this.runBatch(batch).finally(() => {
        this.inFlight--;
        this.schedule();
      });
    }
  }

  private async runBatch(batch: Waiting<I, O>[]): Promise<void> {
    try {
      const results = await this.options.runMany(batch.map((entry) => entry.item));
      batch.forEach((entry, index) => entry.resolve(results[index] as O));
    } catch (error) {
      if (batch.length === 1 || this.options.sharedFailure?.(error)) {
        for (const entry of batch) entry.reject(error);
        return;
      }
      await Promise.all(
        batch.map(async (entry) => {
          try {
            const [result] = await this.options.runMany([entry.item]);
            entry.resolve(result as O);
          } catch (alone) {
            entry.reject(alone);
          }
        }),
      );
    }
  }
}
