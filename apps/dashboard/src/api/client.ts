import { LlmqApiError, LlmqClient, apiErrorOf } from "@llmq/client";
import type { HistoryQuery, NativeBatch as Batch, NativeBatchPage as BatchPage, HistoryPage, ModelInfo, ModelUpstreams, Profile, QueueStats, TaskEnvelopeData, TokenGrant as TokenResponse, SignedInUser as User } from "@llmq/contract";

/** Gives the bearer token for the next request (refreshing it first if it is about to expire). */
export type TokenSource = () => Promise<string>;

/**
 * The API as the dashboard uses it: same origin, Bearer token. The task dialect (tasks, history, batches)
 * goes through @llmq/client; account and admin routes through its authenticated `data` call.
 */
export class ApiClient {
  /** The typed task-dialect client (events, results, and anything else it offers). */
  readonly tasks: LlmqClient;

  constructor(
    token: TokenSource,
    /** Called when the API refuses the credentials (401): the session is over. */
    onUnauthorized: () => void = () => undefined,
  ) {
    this.tasks = new LlmqClient({ apiKey: token, onUnauthorized });
  }

  /** A raw authenticated request (SSE streams, downloads). */
  fetch(path: string, init: RequestInit = {}): Promise<Response> {
    return this.tasks.fetch(path, init);
  }

  history(params: URLSearchParams): Promise<HistoryPage> {
    return this.tasks.history(Object.fromEntries(params) as HistoryQuery);
  }
  task(id: string): Promise<TaskEnvelopeData> {
    return this.tasks.task(id);
  }
  cancel(id: string): Promise<TaskEnvelopeData> {
    return this.tasks.cancel(id);
  }
  retry(id: string): Promise<TaskEnvelopeData> {
    return this.tasks.retry(id);
  }
  batches(after: string | null, limit: number): Promise<BatchPage> {
    return this.tasks.batches({ limit, ...(after ? { after } : {}) });
  }
  batch(id: string): Promise<Batch> {
    return this.tasks.batch(id);
  }
  me(): Promise<Profile> {
    return this.tasks.data("/v1/users/me");
  }
  models(): Promise<ModelInfo[]> {
    return this.tasks.data("/v1/ai/models");
  }
  users(): Promise<User[]> {
    return this.tasks.data<User[] | { users: User[] }>("/v1/admin/users").then((data) => (Array.isArray(data) ? data : data.users));
  }
  queues(): Promise<{ queues: QueueStats[] }> {
    return this.tasks.data("/v1/admin/queues");
  }
  /** Each model's upstreams (admin): state, in flight, minute budgets, latency, errors. */
  upstreams(): Promise<{ models: ModelUpstreams[] }> {
    return this.tasks.data("/v1/admin/upstreams");
  }
  setPaused(model: string, paused: boolean): Promise<{ model: string; paused: boolean }> {
    return this.tasks.data(`/v1/admin/queues/${encodeURIComponent(model)}/${paused ? "pause" : "resume"}`, { method: "POST" });
  }
}

/** `POST /v1/auth/login` or `/v1/auth/refresh`: no bearer token, the OAuth 2 token response. */
export async function requestTokens(path: "/v1/auth/login" | "/v1/auth/refresh", body: unknown): Promise<TokenResponse> {
  const response = await fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if (!response.ok) throw apiErrorOf(response.status, await response.json().catch(() => null), response.headers.get("retry-after"), response.statusText);
  return (await response.json()) as TokenResponse;
}

/** `POST /v1/auth/logout`: revokes the refresh token's family. Best effort: signing out locally goes on regardless. */
export async function revokeTokens(refreshToken: string): Promise<void> {
  await fetch("/v1/auth/logout", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ refresh_token: refreshToken }) }).catch(() => undefined);
}

/** A refused API call, with the API's own status, code and message. */
export { LlmqApiError as ApiError };
