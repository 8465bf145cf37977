import type { TaskStatus } from "@llmq/core";

export type { TaskStatus };

export interface Usage {
  prompt_tokens: number | null;
  completion_tokens: number | null;
  total_tokens: number | null;
}

/** One task as the history (`GET /v1/ai/tasks`) and the updates feed give it. */
export interface TaskRow {
  task_id: string;
  batch_id: string | null;
  custom_id: string | null;
  percent: number;
  status: TaskStatus;
  response: string | null;
  model: string;
  finish_reason: string | null;
  usage: Usage;
  attempts: number;
  error: { code: string; message: string } | null;
  created_at: string;
  started_at: string | null;
  first_token_at: string | null;
  completed_at: string | null;
  timings: {
    queue_wait_seconds: number | null;
    time_to_first_token_seconds: number | null;
    duration_seconds: number | null;
  };
  queue_name?: string;
  /** The task's user; the admin's view carries it. */
  owner_id?: string;
  /** A PENDING task's place in its queue (1 = next) and estimated wait; `GET /v1/ai/tasks/{id}` only. */
  queue_position?: number | null;
  eta_seconds?: number | null;
}

export interface ChatMessage {
  role: string;
  content: string;
}

export interface TaskConfigs {
  model: string;
  max_new_tokens?: number;
  top_k?: number;
  top_p?: number;
  temperature?: number;
  stop?: string | string[];
  seed?: number;
  task_type?: string;
  queue_name?: string;
  messages: ChatMessage[];
}

/** `data` of a task envelope (`GET /v1/ai/tasks/{id}`). */
export interface TaskEnvelopeData {
  is_success: boolean;
  data: TaskRow;
  configs: TaskConfigs;
}

export interface HistoryPage {
  tasks: TaskRow[];
  next_cursor: string | null;
  has_more: boolean;
}

export interface User {
  id: string;
  name: string;
  email: string | null;
  is_admin: boolean;
}

export interface UsageByModel {
  model: string;
  tasks: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface Profile extends User {
  created_at: string;
  usage: {
    tasks: number;
    prompt_tokens: number;
    completion_tokens: number;
    total_tokens: number;
    by_status: Partial<Record<TaskStatus, number>>;
    by_model: UsageByModel[];
  };
}

/** `POST /v1/auth/login` and `/v1/auth/refresh` (OAuth 2 token response, no envelope). */
export interface TokenResponse {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  refresh_token: string;
  refresh_expires_in: number;
  user: User;
}

export interface QueueCounts {
  waiting: number;
  prioritized?: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
}

export interface ModelInfo {
  model: string;
  queue_name: string;
  task_type: string;
  provider: string;
  upstream_model: string | null;
  concurrency: number;
  max_tokens: number | null;
  description?: string | null;
  queue: QueueCounts;
}

export interface MinuteStats {
  minute: string;
  completed: number;
  failed: number;
  p50_ms: number | null;
  p95_ms: number | null;
}

export interface QueueStats {
  model: string;
  queue_name: string;
  paused: boolean;
  counts: QueueCounts;
  last_hour: {
    completed: number;
    failed: number;
    p50_ms: number | null;
    p95_ms: number | null;
    per_minute: MinuteStats[];
  };
}

export type BatchCounts = Record<TaskStatus, number>;

export interface Batch {
  batch_id: string;
  kind: string;
  status: string;
  endpoint: string;
  total: number;
  counts: BatchCounts;
  percent: number;
  created_at: string;
  completed_at: string | null;
}

export interface BatchPage {
  batches: Batch[];
  last_id: string | null;
  has_more: boolean;
}
