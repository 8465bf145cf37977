-- History filters that walked a long history (docs/performance.md, "History at 10 million rows"), each now
-- read in order from an index of its own. None of their columns changes after the insert (model, owner_id,
-- batch_id, created_at, task_id): a start, checkpoint or retry stays HOT. IF NOT EXISTS: an operator with a
-- large table creates them first with CREATE INDEX CONCURRENTLY under these names, and this migration then
-- takes no lock (a plain CREATE INDEX blocks writes to tasks while it builds, about a minute at 10 M rows).

-- GET /v1/ai/tasks?batch_id=: a batch's items newest first. tasks_batch_idx is in line order (results,
-- output files), so a page of a 50,000-item batch read and sorted every item (0.6 s at p99, 10 s for the
-- admin). Partial: interactive tasks write no entry.
CREATE INDEX IF NOT EXISTS "tasks_batch_history_idx" ON "tasks"("batch_id", "created_at" DESC, "task_id" DESC) WHERE "batch_id" IS NOT NULL;

-- GET /v1/ai/tasks?model=: a user's tasks of one model newest first (model, owner), and the admin's of a
-- rare model (model alone). Walking the user's history for a model they seldom or never used read all of
-- it (0.44 s at p99, and seconds for the heaviest tenant's 380,000 tasks).
CREATE INDEX IF NOT EXISTS "tasks_model_history_idx" ON "tasks"("model", "owner_id", "created_at" DESC, "task_id" DESC);

-- A batch's items all belong to its owner: without this the planner multiplies the two filters' shares,
-- expects 25 of a batch's 5,000 items to be the owner's, and reads all 5,000 through a BitmapAnd with the
-- owner's whole history, then sorts them, instead of reading tasks_batch_history_idx in order (the
-- owner's page of a batch: 0.22 s at p99 with the new index alone). Functional-dependency statistics cost
-- nothing per write (ANALYZE fills them: the ANALYZE below, then autovacuum's).
CREATE STATISTICS IF NOT EXISTS "tasks_batch_owner_stats" (dependencies) ON "batch_id", "owner_id" FROM "tasks";
ANALYZE "tasks";

-- An ended batch's tasks per status, kept when it ends (BatchRepository.transition): the batch routes and
-- lists read them from the row instead of counting every item (a page of 20 batches of 50,000 items:
-- 0.56 s at p99). Null for an open batch, and for one that ended before this column: those are counted.
ALTER TABLE "batches" ADD COLUMN "final_counts" JSONB;
