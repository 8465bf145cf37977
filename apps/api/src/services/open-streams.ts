import { RateLimitError, ServiceUnavailableError } from "@llmq/core";
import type { StreamLeases } from "@llmq/queue";
import type { Response } from "express";
import type { Principal } from "../http/principal";

/**
 * Open connections are a resource too: every open stream (SSE, both dialects) and every synchronous
 * request waiting for its task holds a slot. Per process, at most `maxPerProcess` (503 + Retry-After
 * past it, before memory runs out); per user and per key, at most their `max_open_streams` over every
 * API process (429, counted in Redis with expiring leases). The admin key has no quota: only the
 * process ceiling applies to it.
 */
export class OpenStreams {
  private open = 0;

  constructor(private readonly deps: { leases: StreamLeases; maxPerProcess: number }) {}

  /** The process ceiling (MAX_OPEN_STREAMS_PER_PROCESS; 0: none). */
  get ceiling(): number {
    return this.deps.maxPerProcess;
  }

  /** Slots held in this process now. */
  size(): number {
    return this.open;
  }

  /**
   * Takes a slot for the request `res` answers, given back once, when the response closes (finished,
   * failed, client gone, server shut down). Throws 503 `too_many_open_streams_here` at the process
   * ceiling, 429 `too_many_open_streams` at the key's or user's limit.
   */
  async hold(principal: Principal, res: Response): Promise<void> {
    const { maxPerProcess } = this.deps;
    if (maxPerProcess > 0 && this.open >= maxPerProcess) {
      throw new ServiceUnavailableError(`This API process holds ${this.open} open streams and waiting requests, its ceiling; retry shortly (another process may take it).`, {
        code: "too_many_open_streams_here",
        retryAfterSeconds: 5,
      });
    }
    this.open += 1;
    const slot = new Slot(this);
    // Registered before the await: a client that leaves meanwhile still gives the slot back. `on`, not
    // `once` (which wraps the listener in two more objects), and an anonymous arrow (see SseResponse).
    res.on("close", () => slot.give());
    const quota = principal.quota;
    const keyLimit = quota?.key?.maxOpenStreams ?? 0;
    const userLimit = quota?.user.maxOpenStreams ?? 0;
    if (keyLimit === 0 && userLimit === 0) return;
    let taken: Awaited<ReturnType<StreamLeases["acquire"]>>;
    try {
      taken = await this.deps.leases.acquire({ userId: principal.userId, keyId: principal.keyId, userLimit, keyLimit });
    } catch (error) {
      slot.give();
      throw error;
    }
    if (typeof taken !== "function") {
      slot.give();
      const whose = taken.whose === "key" ? "This key" : "This user (all its keys and sessions)";
      throw new RateLimitError(
        `${whose} has ${taken.open} open streams and synchronous requests waiting, its limit of ${taken.limit} (max_open_streams); close one and retry.`,
        { code: "too_many_open_streams", retryAfterSeconds: 1 },
      );
    }
    slot.holds(taken);
  }

  /** A slot given back (Slot). */
  released(): void {
    this.open -= 1;
  }
}

/** One request's slot: given back once, with its lease if it took one (a client may leave while it is being taken). */
class Slot {
  private given = false;
  private release: (() => void) | null = null;

  constructor(private readonly streams: OpenStreams) {}

  holds(release: () => void): void {
    if (this.given) release();
    else this.release = release;
  }

  give(): void {
    if (this.given) return;
    this.given = true;
    this.streams.released();
    this.release?.();
  }
}
