import type { CliConfig } from "./config";
import { httpError } from "./errors";

/** The fields of a task this client shows (`data.data` of the Flexstack envelope). */
export interface TaskData {
  task_id: string;
  status: string;
  percent: number;
  response: string | null;
  model: string;
  finish_reason: string | null;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
  attempts: number;
  error: unknown;
  created_at: string;
  completed_at: string | null;
  [field: string]: unknown;
}

export interface TaskPage {
  tasks: TaskData[];
  next_cursor: string | null;
  has_more: boolean;
}

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

  async list(query: { status?: string; model?: string; limit: number }): Promise<TaskPage> {
    const params = new URLSearchParams({ limit: String(query.limit) });
    if (query.status) params.set("status", query.status);
    if (query.model) params.set("model", query.model);
    return this.data<TaskPage>(`/v1/ai/tasks?${params}`);
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
