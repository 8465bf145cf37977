-- AlterTable: what served the task (issue 16), written by the statements that complete or fail it
-- (no statement of its own): the upstream of choice 0's last request and the model it served as.
-- Nullable and not indexed, so starts and checkpoints stay HOT updates and a previous release keeps working.
ALTER TABLE "tasks" ADD COLUMN     "served_model" TEXT,
ADD COLUMN     "upstream" TEXT;
