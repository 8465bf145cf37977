/**
 * Upper bounds of request fields, so no single field can be made huge. BODY_LIMIT (1mb) already bounds
 * interactive requests, but a native batch body may reach BATCH_BODY_LIMIT (64mb) and a batch file
 * 200 MiB: these keep each request of a batch as small as an interactive one could be.
 */
export const REQUEST_LIMITS = {
  /** Messages in one conversation. */
  messages: 2048,
  /** Characters of one message's content, a prompt, or a content part (about a 256k-token context). */
  contentChars: 1_000_000,
  /** Content parts of one message, and prompts of a legacy completion. */
  parts: 256,
  /** Characters of a model id, a message name, a tool call id, a file id. */
  idChars: 256,
  /** Characters of one stop sequence (up to 4 of them). */
  stopChars: 256,
  /** Tool calls carried by one assistant message. */
  toolCalls: 128,
  /** Characters of a tool's description. */
  descriptionChars: 8192,
  /** Key-value pairs of `metadata` (OpenAI's own limit). */
  metadataPairs: 16,
  /** Choices of one task, `n` × prompts, each one upstream request (OpenAI's largest `n`). */
  choicesPerTask: 128,
} as const;
