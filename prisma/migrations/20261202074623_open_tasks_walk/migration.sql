-- The sweeper walks the open tasks in task_id order, a page of 500 a round (TaskRepository.findStale),
-- instead of reading every open task and sorting them by updated_at each round. Only open tasks have an
-- entry, task_id never changes and completed_at is already in tasks_open_idx's predicate, so starts and
-- checkpoints stay HOT. On a large table, create it first with CREATE INDEX CONCURRENTLY under this name:
-- the migration then takes no lock.
CREATE INDEX IF NOT EXISTS "tasks_open_id_idx" ON "tasks"("task_id") WHERE "completed_at" IS NULL;
