import { NotFoundError, type StoredWebhook, ValidationError, WEBHOOK_EVENTS, type WebhookEvent, type WebhookSpec } from "@llmq/core";
import type { ApiKeyRepository, DeliveryListQuery, WebhookDeliveryRepository, WebhookSecretRepository } from "@llmq/db";
import type { WebhookJobs } from "@llmq/queue";
import { type TargetPolicy, assertTargetAllowed } from "@llmq/webhooks";
import type { Principal } from "../http/principal";

export interface WebhookServiceDeps {
  deliveries: WebhookDeliveryRepository;
  secrets: WebhookSecretRepository;
  jobs: WebhookJobs;
  policy: TargetPolicy;
  /** The admin's per-key grants of private targets. */
  grants: Pick<ApiKeyRepository, "mayTargetPrivateWebhooks">;
}

/** Webhooks as callers handle them: checking a target, their signing secret, their deliveries. */
export class WebhookService {
  constructor(private readonly deps: WebhookServiceDeps) {}

  /**
   * The webhook to store on a new task or batch, signed later with the caller's key's secret; throws a
   * ValidationError when the target's port is not allowed, or it is unresolvable, or private, loopback or
   * reserved and not both within the operator's ranges and granted to the caller (the admin is), or
   * when it asks for an event outside `events` (those the request's kind can send).
   */
  async accept(caller: Principal, spec: WebhookSpec | undefined, events: readonly WebhookEvent[] = WEBHOOK_EVENTS): Promise<StoredWebhook | null> {
    if (!spec) return null;
    const unsendable = spec.events.filter((event) => !events.includes(event));
    if (unsendable.length > 0) {
      const names = unsendable.map((event) => `'${event}'`).join(", ");
      throw new ValidationError(`webhook.events: ${names} cannot be sent for this request; ask for any of ${events.join(", ")}`, { param: "webhook.events", code: "invalid_value" });
    }
    await assertTargetAllowed(spec.url, this.deps.policy, async () => caller.isAdmin || (await this.deps.grants.mayTargetPrivateWebhooks(ownerOf(caller))));
    return { ...spec, key_id: caller.keyId };
  }

  async secret(caller: Principal): Promise<string> {
    const secret = await this.deps.secrets.secretOf(ownerOf(caller));
    if (!secret) throw new NotFoundError("The calling key no longer exists.", { code: "key_not_found" });
    return secret;
  }

  async rotateSecret(caller: Principal): Promise<string> {
    const secret = await this.deps.secrets.rotate(ownerOf(caller));
    if (!secret) throw new NotFoundError("The calling key no longer exists.", { code: "key_not_found" });
    return secret;
  }

  async delivery(caller: Principal, id: string) {
    const delivery = await this.deps.deliveries.findVisible(id, caller);
    if (!delivery) throw new NotFoundError(`No webhook delivery with id '${id}'.`, { param: "delivery_id", code: "delivery_not_found" });
    return delivery;
  }

  list(caller: Principal, query: Omit<DeliveryListQuery, "viewer">) {
    return this.deps.deliveries.list({ ...query, viewer: caller });
  }

  /** One more attempt now for a delivery that succeeded or gave up; a pending one is left to its schedule. */
  async redeliver(caller: Principal, id: string) {
    await this.delivery(caller, id);
    const attempt = await this.deps.deliveries.reopen(id);
    if (attempt !== null) await this.deps.jobs.enqueueAttempt(id, attempt);
    return this.delivery(caller, id);
  }
}

function ownerOf(caller: Principal) {
  return { keyId: caller.keyId, userId: caller.userId };
}
