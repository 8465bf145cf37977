-- AlterTable: the task's service tier (priority, default, flex), its place inside its tenant's line
ALTER TABLE "tasks" ADD COLUMN     "service_tier" TEXT NOT NULL DEFAULT 'default';

-- A tier outside the three is refused by the database too (Prisma 6 cannot describe a CHECK)
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_service_tier_known" CHECK ("service_tier" IN ('priority', 'default', 'flex')) NOT VALID;

-- AlterTable: a key's weight in each model's fair share, null = its user's, else 1
ALTER TABLE "api_keys" ADD COLUMN     "fair_share_weight" INTEGER;

-- AlterTable: the weight of the user's sessions and of its keys that set none, null = 1
ALTER TABLE "users" ADD COLUMN     "fair_share_weight" INTEGER;

ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_fair_share_weight_range" CHECK ("fair_share_weight" BETWEEN 1 AND 1000);

ALTER TABLE "users" ADD CONSTRAINT "users_fair_share_weight_range" CHECK ("fair_share_weight" BETWEEN 1 AND 1000);
