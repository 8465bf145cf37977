-- CreateIndex (by hand: partial indexes). Open batches per user (MAX_OPEN_BATCHES_PER_USER).
CREATE INDEX "batches_open_owner_idx" ON "batches"("owner_id") WHERE "status" IN ('validating', 'in_progress', 'finalizing', 'cancelling');

-- CreateIndex (by hand: partial indexes). Open batches per input file (one at a time).
CREATE INDEX "batches_open_file_idx" ON "batches"("input_file_id") WHERE "status" IN ('validating', 'in_progress', 'finalizing', 'cancelling') AND "input_file_id" IS NOT NULL;
