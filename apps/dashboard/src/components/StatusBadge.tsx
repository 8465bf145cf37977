import type { TaskStatus } from "@llmq/core";

/** A task status as a coloured badge; the text stays, so colour is never the only signal. */
export function StatusBadge({ status }: { status: TaskStatus }) {
  return <span className={`badge badge-${status.toLowerCase()}`}>{status}</span>;
}
