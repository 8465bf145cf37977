-- AlterTable. The admin's per-key grant of the private ranges in WEBHOOK_ALLOWED_CIDRS (off for every existing key).
ALTER TABLE "api_keys" ADD COLUMN     "webhook_private_targets" BOOLEAN NOT NULL DEFAULT false;

-- Data (by hand). Answers stored before this release were the first KiB of any target's, private ones
-- included, and which target was private is not recorded: none of them is shown any more.
UPDATE "webhook_attempts" SET "response_body" = NULL WHERE "response_body" IS NOT NULL;
