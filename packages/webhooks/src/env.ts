import { z } from "zod";
import { type PortRange, type TargetPolicy, DEFAULT_WEBHOOK_PORTS, parseAllowedPorts, parseTargetPolicy } from "./target-policy";

/** A zod string parsed by `parse`, whose thrown message becomes the configuration error. */
function parsed<T>(parse: (value: string) => T, fallback: string) {
  return z
    .string()
    .default(fallback)
    .transform((value, ctx): T => {
      try {
        return parse(value);
      } catch (error) {
        ctx.addIssue({ code: "custom", message: (error as Error).message });
        return z.NEVER;
      }
    });
}

/**
 * The webhook target variables both apps read (spread into their env schemas):
 * `WEBHOOK_ALLOWED_CIDRS`, private or loopback ranges granted keys may reach (default none), and
 * `WEBHOOK_ALLOWED_PORTS`, the ports any webhook may use (default 80, 443 and 1024-65535).
 */
export const webhookTargetEnv = {
  WEBHOOK_ALLOWED_CIDRS: parsed((value) => parseTargetPolicy(value).allowed, ""),
  WEBHOOK_ALLOWED_PORTS: parsed(parseAllowedPorts, DEFAULT_WEBHOOK_PORTS),
};

/** The target policy from the parsed variables. */
export function targetPolicyOf(env: { WEBHOOK_ALLOWED_CIDRS: TargetPolicy["allowed"]; WEBHOOK_ALLOWED_PORTS: readonly PortRange[] }): TargetPolicy {
  return { allowed: env.WEBHOOK_ALLOWED_CIDRS, ports: env.WEBHOOK_ALLOWED_PORTS };
}
