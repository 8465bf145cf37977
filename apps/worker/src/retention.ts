import type { Logger } from "@llmq/core";
import type { RetentionRepository } from "@llmq/db";
import type { TaskEventLog } from "@llmq/queue";

/** Kinds of rows the retention deletes, as its metric labels them. */
export type RetentionKind = "tasks" | "batches" | "files" | "deliveries" | "idempotency_keys";

export interface RetentionDeps {
  retention: RetentionRepository;
  /** Where a deleted task's event stream is dropped (usually gone already: streams expire an hour after the end). */
  events: Pick<TaskEventLog, "discard">;
  metrics: { retentionDeleted(kind: RetentionKind, count: number): void; retentionRound(seconds: number): void };
  logger: Logger;
}

export interface RetentionPolicy {
  /** Finished tasks (and ended batches) are deleted this many days after they ended; 0 keeps them. */
  taskDays: number;
  /** Uploaded files are deleted this many days after their upload, unless an open batch reads them; 0 keeps them. */
  fileDays: number;
  /** Rows one statement deletes at most (files: see FILE_BYTES_PER_STATEMENT too). */
  rowsPerStatement?: number;
  /** Statements of each kind one round runs at most: a backlog drains over several rounds, never in one long one. */
  statementsPerRound?: number;
}

/** Files one statement deletes at most, and content: a file's chunks go with its row in the same statement. */
const FILES_PER_STATEMENT = 100;
const FILE_BYTES_PER_STATEMENT = 64 * 1024 * 1024;

/** What one round deleted (idempotency keys expire in the sweeper itself: see sweepOnce). */
/**
 * Runs `statement` (one short statement of at most `limit` rows, answering how many it took) up to `max`
 * times, stopping at the first that took fewer than `limit`: none left, or the rest held by another
 * sweeper. How every bounded clean-up of the sweeper drains a backlog over rounds.
 */
export async function inBoundedStatements(max: number, limit: number, statement: () => Promise<number>): Promise<void> {
  for (let i = 0; i < max; i++) if ((await statement()) < limit) return;
}

export type RetentionRound = Record<Exclude<RetentionKind, "idempotency_keys">, number>;

/**
 * One round of TASK_RETENTION_DAYS and FILE_RETENTION_DAYS: finished tasks outside batches that ended
 * longer ago than the retention (a response's once its content is erased), then the tasks of batches that
 * ended longer ago and those batches once empty (never an item of a batch still open), each with its
 * webhook deliveries, and the event streams of the tasks; then uploaded files older
 * than their retention that no open batch reads. Every statement takes at most `rowsPerStatement`
 * candidates with SKIP LOCKED and runs alone (no transaction spans two), and a round runs at most
 * `statementsPerRound` of each kind, so a backlog (retention just turned on) drains over a few rounds and
 * never holds a lock the hot path waits for. Returns what it deleted.
 */
export async function sweepRetention(deps: RetentionDeps, policy: RetentionPolicy): Promise<RetentionRound> {
  const started = process.hrtime.bigint();
  const limit = policy.rowsPerStatement ?? 500;
  const statements = policy.statementsPerRound ?? 10;
  const round: RetentionRound = { tasks: 0, batches: 0, files: 0, deliveries: 0 };
  if (policy.taskDays === 0 && policy.fileDays === 0) return round;

  if (policy.taskDays > 0) {
    const seconds = policy.taskDays * 86_400;
    const { retention } = deps;
    for (const step of [
      (n: number) => retention.deleteTasks(seconds, n),
      (n: number) => retention.deleteBatchTasks(seconds, n),
      (n: number) => retention.deleteBatches(seconds, n),
    ]) {
      await inBoundedStatements(statements, limit, async () => {
        const deleted = await step(limit);
        // One pipelined round trip on the worker's auto-pipelined connection.
        await Promise.all(deleted.taskIds.map((id) => deps.events.discard(id)));
        round.tasks += deleted.taskIds.length;
        round.batches += deleted.batches;
        round.deliveries += deleted.deliveries;
        return deleted.taskIds.length + deleted.batches;
      });
    }
  }
  if (policy.fileDays > 0) {
    const perStatement = Math.min(limit, FILES_PER_STATEMENT);
    for (let statement = 0; statement < statements; statement++) {
      const deleted = await deps.retention.deleteFiles(policy.fileDays * 86_400, perStatement, FILE_BYTES_PER_STATEMENT);
      round.files += deleted.files;
      // Fewer than it could take: none left (or the rest is held by another sweeper). A statement cut short by bytes goes on.
      if (deleted.files === 0 || (deleted.files < perStatement && deleted.bytes < FILE_BYTES_PER_STATEMENT)) break;
    }
  }

  for (const [kind, count] of Object.entries(round) as [keyof RetentionRound, number][]) if (count > 0) deps.metrics.retentionDeleted(kind, count);
  deps.metrics.retentionRound(Number(process.hrtime.bigint() - started) / 1e9);
  if (Object.values(round).some((count) => count > 0)) deps.logger.info({ ...round, taskDays: policy.taskDays, fileDays: policy.fileDays }, "sweeper: deleted rows past their retention");
  return round;
}
