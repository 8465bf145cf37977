/** Roles a chat message may carry. */
export const MESSAGE_ROLES = ["system", "developer", "user", "assistant", "tool"] as const;
export type MessageRole = (typeof MESSAGE_ROLES)[number];

export interface ChatMessage {
  role: MessageRole;
  content: string;
  name?: string;
  tool_call_id?: string;
}

/** Sampling settings as a provider receives them, whatever dialect the task came in through. */
export interface GenerationParams {
  maxTokens: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  stop?: string[];
  seed?: number;
}

/** Why generation stopped, in OpenAI's words. */
export type FinishReason = "stop" | "length" | "tool_calls" | "content_filter" | "cancelled";

export interface Usage {
  promptTokens: number;
  completionTokens: number;
}
