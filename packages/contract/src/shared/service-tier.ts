import { REQUESTED_SERVICE_TIERS, SERVICE_TIERS, type RequestedServiceTier, type TaskInput, serviceTierOf } from "@llmq/core";
import { z } from "zod";

/** `service_tier` of a request, in OpenAI's names (both dialects take the same values). */
export const requestedServiceTierSchema = z.enum(REQUESTED_SERVICE_TIERS).meta({
  description:
    "The task's place inside its tenant's line: `priority` first, then `default`, then `flex` (batch items' default); waiting raises a task's place (aging), so flex is never starved. `auto` is served as `default`, `scale` as `priority`. Tiers never cross tenants: between keys, fair share holds (docs/scheduling.md).",
});

/** `service_tier` of an answer: the tier the task is served at. */
export const servedTierSchema = z.enum(SERVICE_TIERS).meta({ description: "The tier the task is served at (`auto` asked: `default`; `scale`: `priority`)." });

/** The tier a request asked for, as TaskInput's `tier`: absent when it asked for none (interactive: `default`, batch items: `flex`). */
export function tierInput(requested: RequestedServiceTier | null | undefined): Pick<TaskInput, "tier"> {
  const tier = serviceTierOf(requested);
  return tier ? { tier } : {};
}
