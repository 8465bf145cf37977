import type { HistoryPage, TaskData } from "@llmq/contract";
import type { CliConfig } from "./config";
import { httpError } from "./errors";

/** The task dialect's wire types, from the contract the server's answers are checked against. */
export type { HistoryPage as TaskPage, TaskData } from "@llmq/contract";

interface Envelope<T> {
  data: { data: T } | null;
  errors?: { message?: string }[];
  error_description?: string;
}

/** A small client for the task dialect (`/v1/ai/...`), which the openai SDK does not speak. */
export class TaskApi {
  constructor(private readonly config: CliConfig) {}

  /** Sends a request; a non-2xx answer becomes a CliError carrying the server's own message. */
  async fetch(pathname: string, init: RequestInit = {}): Promise<Response> {
    const res = await fetch(this.config.baseUrl + pathname, {
      ...init,
      headers: { authorization: `Bearer ${this.config.apiKey}`, ...(init.headers as Record<string, string> | undefined) },
    });
    if (!res.ok) throw httpError(res.status, await errorMessage(res));
    return res;
  }

  async list(query: { status?: string; model?: string; limit: number }): Promise<HistoryPage> {
    const params = new URLSearchParams({ limit: String(query.limit) });
    if (query.status) params.set("status", query.status);
    if (query.model) params.set("model", query.model);
    return this.data<HistoryPage>(`/v1/ai/tasks?${params}`);
  }

  get(taskId: string): Promise<TaskData> {
    return this.data<TaskData>(`/v1/ai/tasks/${encodeURIComponent(taskId)}`);
  }

  /** The task's Server-Sent Events, replayed from the start. */
  events(taskId: string, signal?: AbortSignal): Promise<Response> {
    return this.fetch(`/v1/ai/tasks/${encodeURIComponent(taskId)}/events`, { headers: { accept: "text/event-stream" }, signal });
  }

  private async data<T>(pathname: string): Promise<T> {
    const envelope = (await (await this.fetch(pathname)).json()) as Envelope<T>;
    if (!envelope.data) throw httpError(500, "the server answered without data");
    return envelope.data.data;
  }
}

async function errorMessage(res: Response): Promise<string> {
  const text = await res.text().catch(() => "");
  try {
    const body = JSON.parse(text) as Envelope<unknown> & { error?: { message?: string } };
    return body.errors?.[0]?.message ?? body.error?.message ?? body.error_description ?? res.statusText;
  } catch {
    return text.trim().split("\n")[0] || res.statusText;
  }
}
