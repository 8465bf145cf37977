import { z } from "zod";
import { type TargetPolicy, parseTargetPolicy } from "./target-policy";

/** `WEBHOOK_ALLOWED_CIDRS`: private or loopback ranges webhooks may reach anyway, comma-separated (default none). */
export const webhookTargetsEnvSchema = z
  .string()
  .default("")
  .transform((value, ctx): TargetPolicy => {
    try {
      return parseTargetPolicy(value);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: (error as Error).message });
      return z.NEVER;
    }
  });
