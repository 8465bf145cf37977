import type { ModelUpstreams, UpstreamStatus } from "@llmq/contract";
import { formatCount, formatMs } from "../lib/format";

const STATE_LABELS: Record<UpstreamStatus["state"], string> = { ok: "OK", paused: "PAUSED", open: "OPEN", half_open: "HALF-OPEN" };

/** `used / limit`, or just `used` when there is no limit. */
function ofLimit(used: number, limit: number | null): string {
  return limit === null ? formatCount(used) : `${formatCount(used)} / ${formatCount(limit)}`;
}

/** Until when, as a local time of day, with the seconds left. */
function until(at: number | null, now: number): string {
  if (at === null) return "";
  return ` until ${new Date(at).toLocaleTimeString("en-GB")} (${Math.max(0, Math.ceil((at - now) / 1000))} s)`;
}

function stateText(upstream: UpstreamStatus, now: number): string {
  if (upstream.state === "paused") return `${upstream.pause_kind === "quota" ? "quota spent" : "rate limited"}${until(upstream.paused_until, now)}`;
  if (upstream.state === "open") return `cooling down${until(upstream.cooldown_until, now)}`;
  if (upstream.state === "half_open") return "one probe request";
  return "";
}

function errorsText(errors: Record<string, number>): string {
  const entries = Object.entries(errors).sort((x, y) => y[1] - x[1]);
  return entries.length === 0 ? "none" : entries.map(([kind, n]) => `${kind} ${formatCount(n)}`).join(", ");
}

/** Every model's upstreams (GET /v1/admin/upstreams): state badge, in flight, minute budgets, latency, errors. */
export function UpstreamsTable({ models, now }: { models: ModelUpstreams[]; now: number }) {
  return (
    <div className="table-wrap">
      <table className="tasks upstreams">
        <thead>
          <tr>
            <th scope="col">Model</th>
            <th scope="col">Upstream</th>
            <th scope="col">State</th>
            <th scope="col">In flight</th>
            <th scope="col">Requests / min</th>
            <th scope="col">Tokens / min</th>
            <th scope="col">Latency p50 / p95</th>
            <th scope="col">Errors (5 min)</th>
          </tr>
        </thead>
        <tbody>
          {models.flatMap((model) =>
            model.upstreams.map((upstream) => (
              <tr key={`${model.model}/${upstream.name}`} data-model={model.model} data-upstream={upstream.name} data-state={upstream.state}>
                <td data-label="Model">{model.model}</td>
                <td data-label="Upstream" title={`${upstream.provider} · ${upstream.upstream_model} · weight ${upstream.weight}`}>
                  {upstream.name}
                </td>
                <td data-label="State">
                  <span className={`badge badge-upstream-${upstream.state}`}>{STATE_LABELS[upstream.state]}</span> <span className="muted">{stateText(upstream, now)}</span>
                </td>
                <td data-label="In flight">{ofLimit(upstream.in_flight, upstream.max_concurrency)}</td>
                <td data-label="Requests / min">{ofLimit(upstream.requests_minute.used, upstream.requests_minute.limit)}</td>
                <td data-label="Tokens / min">{ofLimit(upstream.tokens_minute.used, upstream.tokens_minute.limit)}</td>
                <td data-label="Latency p50 / p95">{upstream.latency_ms ? `${formatMs(upstream.latency_ms.p50)} / ${formatMs(upstream.latency_ms.p95)}` : "–"}</td>
                <td data-label="Errors (5 min)" title={upstream.last_error ? `last: ${upstream.last_error.kind} at ${new Date(upstream.last_error.at).toISOString()}` : undefined}>
                  {errorsText(upstream.errors_5m)}
                </td>
              </tr>
            )),
          )}
        </tbody>
      </table>
    </div>
  );
}
