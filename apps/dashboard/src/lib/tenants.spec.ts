import { describe, expect, it } from "vitest";
import { type TenantTierRow, tenantBars, tenantLabel, tierSummary } from "./tenants";

const row = (tenant: string, tier: TenantTierRow["tier"], waiting: number, name: string | null = tenant): TenantTierRow => ({
  tenant,
  tenant_kind: tenant.startsWith("u:") ? "user" : "api_key",
  name,
  key_prefix: tenant.startsWith("u:") ? null : `llmq_${tenant}`,
  tier,
  waiting,
});

describe("tenantBars", () => {
  it("puts a tenant's tiers in one bar and orders tenants by their total", () => {
    const bars = tenantBars([row("a", "default", 30), row("b", "flex", 20), row("a", "priority", 1), row("b", "default", 15), row("u:c", "default", 2)]);
    expect(bars.map((bar) => [bar.tenant, bar.total])).toEqual([
      ["b", 35],
      ["a", 31],
      ["u:c", 2],
    ]);
    expect(bars[1]!.tiers).toEqual({ priority: 1, default: 30, flex: 0 });
    expect(bars[2]).toMatchObject({ kind: "user", keyPrefix: null });
  });
  it("is empty when nobody waits", () => {
    expect(tenantBars([])).toEqual([]);
  });
});

describe("tierSummary and tenantLabel", () => {
  it("names the tiers that have work, in tier order", () => {
    expect(tierSummary({ priority: 1, default: 0, flex: 1200 }, (n) => n.toLocaleString("en-US"))).toBe("priority 1 · flex 1,200");
  });
  it("says what a deleted key or user was", () => {
    expect(tenantLabel({ kind: "api_key", name: null })).toBe("deleted key");
    expect(tenantLabel({ kind: "user", name: null })).toBe("deleted user");
    expect(tenantLabel({ kind: "user", name: "ann@example.org" })).toBe("ann@example.org");
  });
});
