-- Tasks created through the OpenAI dialect: which endpoint, and every choice (n, prompts, tool calls).
ALTER TABLE "tasks" ADD COLUMN "endpoint" TEXT NOT NULL DEFAULT 'task';
ALTER TABLE "tasks" ADD COLUMN "choices" JSONB;
