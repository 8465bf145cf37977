-- AlterTable
ALTER TABLE "api_keys" ADD COLUMN     "max_concurrent_tasks" INTEGER,
ADD COLUMN     "rate_limit_per_minute" INTEGER,
ADD COLUMN     "tokens_per_day" INTEGER;

-- AlterTable
ALTER TABLE "tasks" ADD COLUMN     "api_key_id" UUID,
ADD COLUMN     "expires_at" TIMESTAMPTZ(3),
ADD COLUMN     "run_timeout_ms" INTEGER;


-- CreateIndex (by hand: partial indexes). Unstarted tasks by queue deadline, for the sweeper.
CREATE INDEX "tasks_queue_deadline_idx" ON "tasks"("expires_at") WHERE "status" = 'PENDING' AND "expires_at" IS NOT NULL;

-- CreateIndex (by hand: partial indexes). Open interactive tasks per key, for the concurrency quota.
CREATE INDEX "tasks_open_by_key_idx" ON "tasks"("api_key_id") WHERE "status" IN ('PENDING', 'RUNNING') AND "batch_id" IS NULL;
