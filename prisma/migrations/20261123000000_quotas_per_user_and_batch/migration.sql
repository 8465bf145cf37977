-- AlterTable
ALTER TABLE "users" ADD COLUMN     "max_concurrent_tasks" INTEGER,
ADD COLUMN     "rate_limit_per_minute" INTEGER,
ADD COLUMN     "tokens_per_day" INTEGER;

-- AlterTable
ALTER TABLE "batches" ADD COLUMN     "api_key_id" UUID,
ADD COLUMN     "reserved_at" TIMESTAMPTZ(3),
ADD COLUMN     "reserved_tokens" BIGINT,
ADD COLUMN     "settled_at" TIMESTAMPTZ(3),
ADD COLUMN     "token_limits" JSONB;


-- CreateIndex (by hand: partial indexes). Open interactive tasks per user, for the user's concurrency quota.
CREATE INDEX "tasks_open_by_owner_idx" ON "tasks"("owner_id") WHERE "status" IN ('PENDING', 'RUNNING') AND "batch_id" IS NULL;

-- CreateIndex (by hand: partial indexes). Batches whose token reservation is not settled yet, for the sweeper.
CREATE INDEX "batches_unsettled_idx" ON "batches"("status") WHERE "settled_at" IS NULL AND "reserved_tokens" IS NOT NULL;
