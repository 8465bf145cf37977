-- Finished Responses API tasks whose content is still kept, by end time: the worker's sweeper erases
-- those older than RESPONSE_RETENTION_HOURS, oldest first (TaskRepository.eraseResponsesPastRetention,
-- whose WHERE is this predicate, in literals). Erased responses and every other task are not in it, so
-- a sweep reads only responses within their retention plus the ones it erases, however long the history
-- kept in the table. An insert writes no entry (completed_at is null), nor does a start or checkpoint
-- (none changes endpoint, completed_at or configs): only a response's completion, and its erasure drops it.
-- Written by hand: Prisma 6 cannot describe partial indexes.
CREATE INDEX "tasks_response_retention_idx" ON "tasks"("completed_at")
  WHERE "endpoint" = 'response' AND "completed_at" IS NOT NULL AND NOT coalesce(("configs" #>> '{responses,erased}') = 'true', false);
