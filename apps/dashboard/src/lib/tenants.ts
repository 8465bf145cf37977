import type { QueueStats } from "@llmq/contract";
import { SERVICE_TIERS, type ServiceTier } from "@llmq/core";

export type TenantTierRow = QueueStats["waiting_by_tenant"][number];

/** One tenant's waiting tasks in a queue, its tiers side by side (a stacked bar). */
export interface TenantWaitingBar {
  tenant: string;
  kind: TenantTierRow["tenant_kind"];
  name: string | null;
  keyPrefix: string | null;
  tiers: Record<ServiceTier, number>;
  total: number;
}

/** Groups the route's tenant × tier rows by tenant, largest total first (ties by tenant id, as the route orders). */
export function tenantBars(rows: readonly TenantTierRow[]): TenantWaitingBar[] {
  const byTenant = new Map<string, TenantWaitingBar>();
  for (const row of rows) {
    let bar = byTenant.get(row.tenant);
    if (!bar) {
      bar = { tenant: row.tenant, kind: row.tenant_kind, name: row.name, keyPrefix: row.key_prefix, tiers: { priority: 0, default: 0, flex: 0 }, total: 0 };
      byTenant.set(row.tenant, bar);
    }
    bar.tiers[row.tier] += row.waiting;
    bar.total += row.waiting;
  }
  return [...byTenant.values()].sort((a, b) => b.total - a.total || (a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0));
}

/** "priority 1 · default 3": the tiers a tenant has waiting, in tier order. */
export function tierSummary(tiers: Record<ServiceTier, number>, format: (n: number) => string = String): string {
  return SERVICE_TIERS.filter((tier) => tiers[tier] > 0)
    .map((tier) => `${tier} ${format(tiers[tier])}`)
    .join(" · ");
}

/** How a tenant reads: the key's name, the user's email, or what is left of a deleted one. */
export function tenantLabel(bar: Pick<TenantWaitingBar, "kind" | "name">): string {
  return bar.name ?? (bar.kind === "api_key" ? "deleted key" : "deleted user");
}
