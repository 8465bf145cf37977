import { z } from "zod";

/** What a webhook can be told about: a task's or batch's end in each final state, and its progress. */
export const WEBHOOK_EVENTS = ["completed", "failed", "cancelled", "expired", "progress"] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** Without an `events` filter a webhook hears every ending, not progress. */
export const DEFAULT_WEBHOOK_EVENTS: readonly WebhookEvent[] = ["completed", "failed", "cancelled", "expired"];

const webhookUrlSchema = z
  .string()
  .max(2048)
  .refine((value) => URL.canParse(value), "must be an absolute URL")
  .refine((value) => !URL.canParse(value) || ["http:", "https:"].includes(new URL(value).protocol), "must be an http or https URL")
  .refine((value) => !URL.canParse(value) || (new URL(value).username === "" && new URL(value).password === ""), "must not carry credentials; verify the signature instead");

/**
 * A caller's webhook: a URL, or `{url, events}`. Normalised to `{url, events}`; whether the target may
 * be reached (private ranges, DNS) is checked separately, at submission and again at each connection.
 */
export const webhookSpecSchema = z
  // A bare URL is shorthand for {url}: one object schema, so errors name the exact field.
  .preprocess(
    (value) => (typeof value === "string" ? { url: value } : value),
    z.strictObject({
      url: webhookUrlSchema,
      events: z.array(z.enum(WEBHOOK_EVENTS)).min(1, "events must name at least one event").optional(),
    }),
  )
  .transform((spec) => ({ url: spec.url, events: [...new Set(spec.events ?? DEFAULT_WEBHOOK_EVENTS)] }))
  .meta({
    description:
      "Where to POST signed events (Standard Webhooks): a URL, or `{url, events}` with events among completed, failed, cancelled, expired, progress (default: every ending). Private and loopback targets are refused unless WEBHOOK_ALLOWED_CIDRS allows them and the admin granted the key private targets; ports outside WEBHOOK_ALLOWED_PORTS are refused.",
  });
export type WebhookSpec = z.output<typeof webhookSpecSchema>;

/** A webhook as stored on a task or batch row: the spec plus the key whose secret signs it. */
export interface StoredWebhook extends WebhookSpec {
  key_id: string | null;
}
