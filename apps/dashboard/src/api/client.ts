import { ApiError, apiErrorOf } from "./errors";
import type { NativeBatch as Batch, NativeBatchPage as BatchPage, HistoryPage, ModelInfo, Profile, QueueStats, TaskEnvelopeData, TokenGrant as TokenResponse, SignedInUser as User } from "@llmq/contract";

/** Gives the bearer token for the next request (refreshing it first if it is about to expire). */
export type TokenSource = () => Promise<string>;

interface Envelope<T> {
  data: { is_success: boolean; data: T };
}

/** The API as the dashboard uses it: same origin, Bearer token, Flexstack envelopes unwrapped. */
export class ApiClient {
  constructor(
    private readonly token: TokenSource,
    /** Called when the API refuses the credentials (401): the session is over. */
    private readonly onUnauthorized: () => void = () => undefined,
  ) {}

  /** A raw authenticated request (SSE streams, downloads). */
  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${await this.token()}`);
    const response = await fetch(path, { ...init, headers });
    if (response.status === 401) this.onUnauthorized();
    return response;
  }

  private async call<T>(path: string, init: RequestInit = {}, body?: unknown): Promise<T> {
    const response = await this.fetch(path, body === undefined ? init : { ...init, body: JSON.stringify(body), headers: { "content-type": "application/json" } });
    if (!response.ok) throw await apiErrorOf(response);
    return ((await response.json()) as Envelope<T>).data.data;
  }

  private async envelope(path: string, method = "GET"): Promise<TaskEnvelopeData> {
    const response = await this.fetch(path, { method });
    if (!response.ok) throw await apiErrorOf(response);
    return ((await response.json()) as { data: TaskEnvelopeData }).data;
  }

  history(params: URLSearchParams): Promise<HistoryPage> {
    return this.call(`/v1/ai/tasks?${params.toString()}`);
  }
  task(id: string): Promise<TaskEnvelopeData> {
    return this.envelope(`/v1/ai/tasks/${encodeURIComponent(id)}`);
  }
  cancel(id: string): Promise<TaskEnvelopeData> {
    return this.envelope(`/v1/ai/tasks/${encodeURIComponent(id)}/cancel`, "POST");
  }
  retry(id: string): Promise<TaskEnvelopeData> {
    return this.envelope(`/v1/ai/tasks/${encodeURIComponent(id)}/retry`, "POST");
  }
  me(): Promise<Profile> {
    return this.call("/v1/users/me");
  }
  models(): Promise<ModelInfo[]> {
    return this.call("/v1/ai/models");
  }
  users(): Promise<User[]> {
    return this.call<User[] | { users: User[] }>("/v1/admin/users").then((data) => (Array.isArray(data) ? data : data.users));
  }
  queues(): Promise<{ queues: QueueStats[] }> {
    return this.call("/v1/admin/queues");
  }
  setPaused(model: string, paused: boolean): Promise<{ model: string; paused: boolean }> {
    return this.call(`/v1/admin/queues/${encodeURIComponent(model)}/${paused ? "pause" : "resume"}`, { method: "POST" });
  }
  batches(after: string | null, limit: number): Promise<BatchPage> {
    const params = new URLSearchParams({ limit: String(limit) });
    if (after) params.set("after", after);
    return this.call(`/v1/ai/batches?${params.toString()}`);
  }
  batch(id: string): Promise<Batch> {
    return this.call(`/v1/ai/batches/${encodeURIComponent(id)}`);
  }
}

/** `POST /v1/auth/login` or `/v1/auth/refresh`: no bearer token, the OAuth 2 token response. */
export async function requestTokens(path: "/v1/auth/login" | "/v1/auth/refresh", body: unknown): Promise<TokenResponse> {
  const response = await fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if (!response.ok) throw await apiErrorOf(response);
  return (await response.json()) as TokenResponse;
}

/** `POST /v1/auth/logout`: revokes the refresh token's family. Best effort: signing out locally goes on regardless. */
export async function revokeTokens(refreshToken: string): Promise<void> {
  await fetch("/v1/auth/logout", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ refresh_token: refreshToken }) }).catch(() => undefined);
}

export { ApiError };
