import type { QueueStats } from "@llmq/contract";
import { SERVICE_TIERS } from "@llmq/core";
import { formatCount } from "../lib/format";
import { tenantBars, tenantLabel, tierSummary } from "../lib/tenants";

/** The route answers at most this many tenant × tier rows per queue. */
const TOP_ROWS = 20;

/**
 * Who waits in one queue, as the fair scheduler sees them: a stacked bar per tenant (priority, default,
 * flex), scaled to the largest tenant, with the counts written out (colour is never the only signal).
 */
export function TenantWaiting({ queue }: { queue: Pick<QueueStats, "model" | "waiting_by_tenant"> }) {
  const bars = tenantBars(queue.waiting_by_tenant);
  const largest = Math.max(1, ...bars.map((bar) => bar.total));
  const headingId = `tenants-${queue.model}`;
  return (
    <section className="tenant-waiting" aria-labelledby={headingId} data-testid="waiting-by-tenant">
      <h3 id={headingId}>Waiting by tenant and tier</h3>
      {bars.length === 0 ? (
        <p className="muted">Nobody is waiting.</p>
      ) : (
        <>
          <ul className="tenant-bars">
            {bars.map((bar) => (
              <li key={bar.tenant} data-tenant={bar.tenant} data-total={bar.total}>
                <div className="tenant-head">
                  <span className="tenant-name" title={bar.tenant}>
                    {tenantLabel(bar)}
                  </span>
                  <span className="muted mono tenant-id">{bar.keyPrefix ?? (bar.kind === "user" ? "user" : "")}</span>
                  <span className="tenant-total">{formatCount(bar.total)}</span>
                </div>
                <div className="tenant-track" role="img" aria-label={`${tenantLabel(bar)}: ${tierSummary(bar.tiers, formatCount)}`}>
                  {SERVICE_TIERS.filter((tier) => bar.tiers[tier] > 0).map((tier) => (
                    <span key={tier} className={`tier-seg tier-${tier}`} data-tier={tier} style={{ width: `${(bar.tiers[tier] / largest) * 100}%` }} />
                  ))}
                </div>
                <div className="muted tenant-tiers" data-testid="tier-counts">
                  {tierSummary(bar.tiers, formatCount)}
                </div>
              </li>
            ))}
          </ul>
          <p className="chart-legend muted">
            {SERVICE_TIERS.map((tier) => (
              <span key={tier} className={`legend tier-legend-${tier}`}>
                {tier}
              </span>
            ))}
            {queue.waiting_by_tenant.length >= TOP_ROWS && <span>· the {TOP_ROWS} largest tenant × tier lines</span>}
          </p>
        </>
      )}
    </section>
  );
}
