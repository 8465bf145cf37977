import type { RedisConnection } from "../connection";
import { bindScripts } from "./bind-scripts";
import type { RunQueueKeys } from "./keys";
import { REPORT, RESERVE, SNAPSHOT } from "./upstreams-scripts";
import type {
  DispatchBlock,
  Reservation,
  UpstreamBlockReason,
  UpstreamHealth,
  UpstreamParams,
  UpstreamReport,
  UpstreamSnapshot,
  UpstreamState,
} from "./upstreams-types";

export const MAX_UPSTREAMS = 16;
const NAME = /^[A-Za-z0-9._-]{1,64}$/;
const LABEL = /^[a-z0-9_]{1,32}$/;

/** A positive integer limit, or '' for none. */
function limit(value: number | null | undefined, what: string, upstream: string): string {
  if (value === null || value === undefined) return "";
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`run queue: ${what} of upstream ${upstream} must be a positive integer`);
  return String(value);
}

/** The scripts' encoding of a model's upstreams: a count, then 9 fields each (see up_params in upstreams-lua.ts). */
export function upstreamArgs(upstreams: readonly UpstreamParams[]): string[] {
  if (upstreams.length > MAX_UPSTREAMS) throw new RangeError(`run queue: at most ${MAX_UPSTREAMS} upstreams a model`);
  const seen = new Set<string>();
  const args = [String(upstreams.length)];
  for (const u of upstreams) {
    if (!NAME.test(u.name)) throw new RangeError(`run queue: upstream name ${JSON.stringify(u.name)} must be 1-64 of A-Z a-z 0-9 . _ -`);
    if (seen.has(u.name)) throw new RangeError(`run queue: upstream ${u.name} is listed twice`);
    seen.add(u.name);
    const weight = u.weight ?? 1;
    if (!(weight > 0) || !Number.isFinite(weight)) throw new RangeError(`run queue: weight of upstream ${u.name} must be a positive number`);
    const c = u.circuit ?? null;
    args.push(
      u.name,
      String(weight),
      limit(u.maxConcurrency, "max_concurrency", u.name),
      limit(u.requestsPerMinute, "requests_per_minute", u.name),
      limit(u.tokensPerMinute, "tokens_per_minute", u.name),
      c ? limit(c.failures, "circuit.failures", u.name) : "",
      c ? limit(c.windowMs, "circuit.window_ms", u.name) : "",
      c ? limit(c.cooldownMs, "circuit.cooldown_ms", u.name) : "",
      limit(u.quotaPauseMs ?? 60_000, "quota_pause_ms", u.name),
    );
  }
  return args;
}

/** DISPATCH/RESERVE's {why, wake, reasons} as a DispatchBlock, or null when not blocked. */
export function parseBlock(why: string, wake: number | string, reasons: string[]): DispatchBlock | null {
  if (why !== "capacity" && why !== "unavailable") return null;
  const upstreams: Record<string, UpstreamBlockReason> = {};
  for (let i = 0; i + 1 < reasons.length; i += 2) upstreams[reasons[i]!] = reasons[i + 1] as UpstreamBlockReason;
  const at = Number(wake);
  return { reason: why, wakeAt: at > 0 ? at : null, upstreams };
}

type Commands = {
  llmqRqReserve(...args: string[]): Promise<[string, string, number, string[]]>;
  llmqRqReport(...args: string[]): Promise<[string, number, number]>;
  llmqRqSnapshot(...args: string[]): Promise<[string, string, number, string, number, number, number, number, number[], (string | number)[], string, string][]>;
};

function commandsOn(redis: RedisConnection): Commands {
  return bindScripts<Commands>(redis, { llmqRqReserve: RESERVE, llmqRqReport: REPORT, llmqRqSnapshot: SNAPSHOT });
}

function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/**
 * One model's upstreams in its run queue: failover of a leased task (RESERVE), what a request ended
 * with (REPORT: pauses and the circuit breaker), and a read-only view (SNAPSHOT). Dispatch itself
 * reserves an upstream when given the model's upstreams (RunQueue.dispatch). Each call is one script.
 */
export class RunQueueUpstreams {
  private readonly commands: Commands;

  constructor(
    redis: RedisConnection,
    private readonly keys: RunQueueKeys,
    private readonly now?: () => number,
  ) {
    this.commands = commandsOn(redis);
  }

  private head(): string[] {
    const k = this.keys;
    return [k.state, k.tenants, k.weights, k.leased, k.counts, k.dead, k.base, this.now ? String(this.now()) : ""];
  }

  /**
   * Moves the reservation of a task leased under `token` to another upstream with room (`exclude`: the
   * ones that just failed it), releasing the old one. `{upstream: null, blocked}` when none has room
   * (the task then holds no reservation: reserve again, or release it); `lost` when the token no longer
   * holds the task.
   */
  async reserve(id: string, token: string, exclude: readonly string[], upstreams: readonly UpstreamParams[]): Promise<Reservation> {
    const skip = [...new Set(exclude)].slice(0, MAX_UPSTREAMS);
    const [upstream, why, wake, reasons] = await this.commands.llmqRqReserve(...this.head(), id, token, String(skip.length), ...skip, ...upstreamArgs(upstreams));
    if (upstream !== "") return { upstream };
    if (why === "lost") return { upstream: null, blocked: null, lost: true };
    return { upstream: null, blocked: parseBlock(why, wake, reasons), lost: false };
  }

  /** Tells the queue what a request to `upstream` ended with; resolves to the upstream's health after it. */
  async report(upstream: UpstreamParams, report: UpstreamReport): Promise<UpstreamHealth> {
    const retryAfter = report.kind === "rate_limited" && report.retryAfterMs != null && report.retryAfterMs >= 0 ? String(Math.ceil(report.retryAfterMs)) : "";
    const latency = report.kind === "ok" && report.latencyMs != null && report.latencyMs >= 0 ? String(Math.round(report.latencyMs)) : "";
    const label = report.kind === "ok" ? "" : report.kind === "fail" ? (report.error ?? "fail") : report.kind;
    if (report.kind !== "ok" && !LABEL.test(label)) throw new RangeError(`run queue: error label ${JSON.stringify(label)} must be 1-32 of a-z 0-9 _`);
    const [state, pausedUntil, openUntil] = await this.commands.llmqRqReport(...this.head(), report.kind, retryAfter, latency, label, ...upstreamArgs([upstream]));
    return { state: state as UpstreamState, pausedUntil: pausedUntil > 0 ? Number(pausedUntil) : null, openUntil: openUntil > 0 ? Number(openUntil) : null };
  }

  /** Each upstream's state, load in the current window, recent latency and errors. Read-only. */
  async snapshot(upstreams: readonly UpstreamParams[]): Promise<UpstreamSnapshot[]> {
    const rows = await this.commands.llmqRqSnapshot(...this.head(), ...upstreamArgs(upstreams));
    return rows.map(([name, state, pausedUntil, pauseKind, openUntil, inFlight, requests, tokens, latencies, errorPairs, lastKind, lastAt], i) => {
      const params = upstreams[i]!;
      const errors: Record<string, number> = {};
      for (let j = 0; j + 1 < errorPairs.length; j += 2) errors[String(errorPairs[j])] = Number(errorPairs[j + 1]);
      const lat = latencies.map(Number);
      return {
        name,
        state: state as UpstreamState,
        pausedUntil: Number(pausedUntil) > 0 ? Number(pausedUntil) : null,
        pauseKind: pauseKind === "" ? null : pauseKind,
        openUntil: Number(openUntil) > 0 ? Number(openUntil) : null,
        inFlight: Number(inFlight),
        maxConcurrency: params.maxConcurrency ?? null,
        requestsMinute: Number(requests),
        requestsPerMinute: params.requestsPerMinute ?? null,
        tokensMinute: Number(tokens),
        tokensPerMinute: params.tokensPerMinute ?? null,
        latencyMs: lat.length === 0 ? null : { p50: percentile(lat, 0.5), p95: percentile(lat, 0.95) },
        errors,
        lastError: lastKind === "" ? null : { kind: lastKind, at: Number(lastAt) },
      };
    });
  }
}
