/** Exit codes scripts can rely on; `llmq --help` and docs/cli.md list them. */
export const EXIT = {
  OK: 0,
  USAGE: 1,
  API: 2,
  BATCH_NOT_COMPLETED: 3,
  NOT_FOUND: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODES_HELP = `
Exit codes:
  0  success (with --wait: the batch completed; tasks watch: the task completed)
  1  usage or configuration error (bad option, missing argument, unreadable file)
  2  API error (4xx/5xx other than 404, network failure, bad API key)
  3  the batch ended failed, expired or cancelled (batch submit --wait), or the task
     did not complete (tasks watch)
  4  not found (unknown batch, task or file)

Environment:
  LLMQ_BASE_URL  the server (default http://127.0.0.1:3000); --base-url overrides it
  LLMQ_API_KEY   the API key; --api-key overrides it`;
