import type { FinalDeliveryCursor, WebhookDeliveryRepository } from "@llmq/db";

/** How far back a full pass looks for final events whose webhook delivery is missing. */
export const WEBHOOK_LOOKBACK_MS = 24 * 3600_000;
/**
 * How far before the last round's bound the next round starts reading again: a task whose end was stamped
 * before that bound but committed after the round read (a slow transaction), or stamped by a host whose
 * clock runs behind, is still read by the next round.
 */
export const RECENT_OVERLAP_MS = 5 * 60_000;
/** Pages of the recent window one round reads at most (a burst of endings drains over the next rounds). */
const MAX_RECENT_PAGES = 10;

/**
 * Which tasks' final webhooks the sweeper checks, per worker process. Each round reads the tasks that ended
 * since its last round (less RECENT_OVERLAP_MS); a full pass over the last 24 hours starts with the
 * process (so a restart misses nothing) and then every `fullPassEveryMs`, and reads one page a round, oldest
 * first, until it reaches the present. Every statement reads at most `limit` tasks; rows read twice (the
 * overlap, a pass meeting the recent window, two processes) are harmless: the repair is idempotent.
 */
export class FinalDeliveryScan {
  /** Where the next recent read starts; null before the first round. */
  private recent: FinalDeliveryCursor | null = null;
  /** Where the running full pass reads next; null between passes. */
  private pass: FinalDeliveryCursor | null = null;
  private nextPassAt = 0;

  constructor(private readonly fullPassEveryMs: number) {}

  /** The ids of tasks that ended before `settled` with their final event's delivery missing. */
  async round(deliveries: Pick<WebhookDeliveryRepository, "tasksMissingFinalDelivery">, now: number, settled: Date, limit: number): Promise<string[]> {
    const found = new Set<string>();
    const restart = { at: new Date(settled.getTime() - RECENT_OVERLAP_MS), id: "" };
    let from = this.recent ?? restart;
    let next: FinalDeliveryCursor | null = from;
    for (let page = 0; page < MAX_RECENT_PAGES && next; page++) {
      const read = await deliveries.tasksMissingFinalDelivery(from, settled, limit);
      for (const id of read.missing) found.add(id);
      next = read.next;
      if (next) from = next;
    }
    // Read to `settled`: the next round starts the overlap before it; else where this one stopped.
    this.recent = next ?? restart;

    if (!this.pass && now >= this.nextPassAt) {
      this.pass = { at: new Date(now - WEBHOOK_LOOKBACK_MS), id: "" };
      this.nextPassAt = now + this.fullPassEveryMs;
    }
    if (this.pass) {
      const read = await deliveries.tasksMissingFinalDelivery(this.pass, settled, limit);
      for (const id of read.missing) found.add(id);
      this.pass = read.next;
    }
    return [...found];
  }
}
