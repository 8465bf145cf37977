import type { ChatMessage } from "./generation";
import type { PreparedTask } from "./task-preparation";

/** Tokens a chat template adds around each message, roughly what OpenAI documents. */
const TOKENS_PER_MESSAGE = 4;
/** English text runs about four characters to a token; an estimate, corrected when a batch settles. */
const CHARACTERS_PER_TOKEN = 4;

/** An estimate of a text's tokens without a tokenizer: a quarter of its characters. */
export function estimateTextTokens(text: string): number {
  return Math.ceil(text.length / CHARACTERS_PER_TOKEN);
}

/**
 * An estimate of a prompt's tokens without a tokenizer: a quarter of its characters plus 4 per message.
 * Quotas reserve with it, and a cancelled attempt whose upstream never reported usage is charged it.
 */
export function estimatePromptTokens(messages: readonly Pick<ChatMessage, "content">[]): number {
  return messages.reduce((sum, message) => sum + estimateTextTokens(message.content ?? "") + TOKENS_PER_MESSAGE, 0);
}

/**
 * The most tokens a task is expected to use, for reserving it against daily quotas: for every upstream
 * call it makes (each prompt of a legacy completion, times `n`), the prompt's estimate plus `max_tokens`.
 */
export function taskTokenBudget(task: Pick<PreparedTask, "messages" | "configs">): number {
  const { configs } = task;
  const prompts = configs.prompts ? configs.prompts.map((prompt) => estimatePromptTokens([{ content: prompt }])) : [estimatePromptTokens(task.messages)];
  return prompts.reduce((sum, prompt) => sum + (prompt + configs.max_tokens) * configs.n, 0);
}
