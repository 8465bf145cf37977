-- AlterTable: a key's own limit on open streams (SSE) and synchronous waits, null = MAX_OPEN_STREAMS_PER_KEY
ALTER TABLE "api_keys" ADD COLUMN     "max_open_streams" INTEGER;

-- AlterTable: a user's own limit over all its keys and sessions, null = the sum of its live keys' limits
ALTER TABLE "users" ADD COLUMN     "max_open_streams" INTEGER;
