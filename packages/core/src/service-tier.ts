/**
 * Service tiers: a task's place inside its tenant's line (docs/scheduling.md). `priority` goes first,
 * `flex` last; waiting raises a task's place (aging), so flex is never starved. Tiers never cross tenants.
 */
export const SERVICE_TIERS = ["priority", "default", "flex"] as const;
export type ServiceTier = (typeof SERVICE_TIERS)[number];

/** What a request may ask for, in OpenAI's names: `auto` is served as `default`, `scale` as `priority`. */
export const REQUESTED_SERVICE_TIERS = ["auto", "default", "flex", "priority", "scale"] as const;
export type RequestedServiceTier = (typeof REQUESTED_SERVICE_TIERS)[number];

/** The tier a request is served at; undefined when it asked for none (interactive: `default`, batch items: `flex`). */
export function serviceTierOf(requested: RequestedServiceTier | null | undefined): ServiceTier | undefined {
  switch (requested) {
    case null:
    case undefined:
      return undefined;
    case "auto":
      return "default";
    case "scale":
      return "priority";
    default:
      return requested;
  }
}
