import { createHash } from "node:crypto";
import type { Client } from "pg";

/** Shape of a generated history (see fillHistory). */
export interface HistoryFillOptions {
  /** Task rows (default 10,000,000). */
  rows?: number;
  /** Users, each with one API key (default 1,000). */
  keys?: number;
  /** Days the tasks' created_at spreads over, ending now (default 60). */
  days?: number;
  /** Rows per INSERT statement (default 500,000): progress is reported after each. */
  chunk?: number;
  /** Called after each chunk with the rows written so far. */
  progress?: (written: number, total: number) => void;
}

/** Ids and secrets of a generated history, so measurements and tests can aim at rows of a known kind. */
export const history = {
  /** User n (1 = the heaviest tenant, n = keys the lightest). */
  userId: (n: number) => `00000000-0000-4000-a000-${n.toString(16).padStart(12, "0")}`,
  keyId: (n: number) => `00000000-0000-4000-b000-${n.toString(16).padStart(12, "0")}`,
  /** The secret of user n's API key (its SHA-256 is what api_keys holds, as the app stores keys). */
  keySecret: (n: number) => `llmq_history_key_${n}`,
  batchId: (n: number) => `batch_${n.toString(16).padStart(32, "0")}`,
  /** Models and their share of the traffic: one with 1 %, one with 0.1 %. */
  models: ["llama-3.1-8b-instruct", "gemma-7b", "qwen-72b", "mistral-small", "deepseek-r1", "legacy-model"] as const,
  /** Users that own the batches (the 50 heaviest). */
  batchOwners: 50,
};

/** Tasks still open (PENDING or RUNNING): the newest, about 40 minutes of traffic at 10 M rows over 60 days. */
export function openTasksOf(rows: number): number {
  return Math.max(10, Math.min(5_000, Math.round(rows * 0.01)));
}

/** Task positions per batch block: blocks divisible by 4 hold one large batch, the others ten smaller ones. */
export function batchBlockOf(rows: number): number {
  return Math.max(1_000, Math.floor(rows / 40 / 100) * 100);
}

const LOREM =
  "Summarise the quarterly report for the board in plain words, keep every figure, list the risks first and the open questions last. " +
  "Translate the following customer message into French and German, keeping the tone polite but firm, and flag any promise we cannot keep. " +
  "Write a short product description for a waterproof hiking jacket with taped seams, two chest pockets and a packable hood for travel. " +
  "Explain the difference between optimistic and pessimistic locking to a new engineer, with one example of each from an order system. ";

/**
 * Fills an empty migrated database with `rows` tasks as the app writes them, over `keys` users with an API
 * key each, created_at spread evenly over the last `days` days: owners skewed (user n's share falls as
 * 1/sqrt(n): user 1 owns ~3 %, user 1,000 ~0.05 %), six models (45/25/15/15 %, less a 1 % and a 0.1 % one), four endpoints
 * (task 60 %, chat.completion 25 %, text_completion 5 %, response 10 %), 20 % of the rows items of native
 * batches (one of 50,000 items in every fourth block of rows/40 positions, ten of 5,000 in the others, at
 * 10 M rows), the newest openTasksOf(rows) still open (a fifth RUNNING), the rest 94 % COMPLETED, 3 %
 * FAILED, 2 % CANCELLED... and messages and answers of a few hundred bytes (a system and a user message,
 * 100-400 characters of reply, its `choices` copy). A twentieth of interactive tasks carry a webhook and
 * their final delivery. Task ids are random-looking hex (md5), batch items' derived as the app derives them
 * (batchTaskId). Secondary indexes are dropped during the fill and rebuilt after (as a restore does),
 * foreign keys are not checked row by row (the data is consistent by construction); then VACUUM ANALYZE.
 */
export async function fillHistory(client: Client, options: HistoryFillOptions = {}): Promise<void> {
  const rows = options.rows ?? 10_000_000;
  const keys = options.keys ?? 1_000;
  const days = options.days ?? 60;
  const chunk = options.chunk ?? 500_000;
  const open = openTasksOf(rows);
  const block = batchBlockOf(rows);
  const seconds = (days * 86_400) / rows;

  const existing = await client.query<{ tasks: boolean; users: boolean }>(
    "SELECT EXISTS (SELECT 1 FROM tasks) AS tasks, EXISTS (SELECT 1 FROM users WHERE id <> '00000000-0000-4000-8000-000000000001') AS users",
  );
  if (existing.rows[0]?.tasks || existing.rows[0]?.users) throw new Error("fillHistory: the database already holds users or tasks; it fills only an empty one");

  // Foreign keys are not checked per row (superuser only: elsewhere they are, more slowly).
  await client.query("SET session_replication_role = replica").catch(() => undefined);
  await client.query("SET maintenance_work_mem = '512MB'").catch(() => undefined);
  await client.query("SET synchronous_commit = off");

  await client.query(
    `INSERT INTO users (id, name, email, created_at)
     SELECT ('00000000-0000-4000-a000-' || lpad(to_hex(u), 12, '0'))::uuid, 'tenant ' || u, 'tenant' || u || '@example.com', now() - ($1::int + 30) * interval '1 day'
       FROM generate_series(1, $2::int) u`,
    [days, keys],
  );
  await client.query(
    `INSERT INTO api_keys (id, user_id, name, key_hash, prefix, created_at)
     SELECT ('00000000-0000-4000-b000-' || lpad(to_hex(u), 12, '0'))::uuid, ('00000000-0000-4000-a000-' || lpad(to_hex(u), 12, '0'))::uuid,
            'production', encode(sha256(convert_to('llmq_history_key_' || u, 'UTF8')), 'hex'), left('llmq_history_key_' || u, 11), now() - $1::int * interval '1 day'
       FROM generate_series(1, $2::int) u`,
    [days, keys],
  );

  // Indexes are rebuilt after the fill (a few sorts instead of 10 M insertions each); the primary keys stay.
  const secondary = await client.query<{ name: string; definition: string }>(
    `SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
      WHERE t.relname IN ('tasks', 'webhook_deliveries') AND NOT i.indisprimary AND NOT i.indisunique
        AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)`,
  );
  for (const index of secondary.rows) await client.query(`DROP INDEX "${index.name}"`);

  // Batches: one per block position range (see batchBlockOf); positions i with (i - 1) % 10 < 2 are items.
  await client.query(
    `INSERT INTO batches (id, owner_id, kind, endpoint, status, total_count, created_at, expires_at, in_progress_at, completed_at, api_key_id)
     SELECT 'batch_' || lpad(to_hex(b), 32, '0'), ('00000000-0000-4000-a000-' || lpad(to_hex(1 + (b * 7) % $5::int), 12, '0'))::uuid, 'native', 'task',
            CASE WHEN last_position > $1::bigint - $2::int THEN 'in_progress' ELSE 'completed' END,
            (last_position - first_position + 1) / 5,
            now() - ($1::bigint - first_position) * $3::float8 * interval '1 second',
            now() - ($1::bigint - first_position) * $3::float8 * interval '1 second' + interval '1 day',
            now() - ($1::bigint - first_position) * $3::float8 * interval '1 second',
            CASE WHEN last_position > $1::bigint - $2::int THEN NULL ELSE now() - ($1::bigint - last_position) * $3::float8 * interval '1 second' + interval '10 seconds' END,
            ('00000000-0000-4000-b000-' || lpad(to_hex(1 + (b * 7) % $5::int), 12, '0'))::uuid
       FROM (SELECT b, min(i) AS first_position, max(i) AS last_position
               FROM (SELECT i, CASE WHEN ((i - 1) / $4::int) % 4 = 0 THEN ((i - 1) / $4::int) * 10
                                    ELSE ((i - 1) / $4::int) * 10 + ((i - 1) % $4::int) * 10 / $4::int END AS b
                       FROM generate_series(1, $1::bigint) i) p
              GROUP BY b) r`,
    [rows, open, seconds, block, Math.min(history.batchOwners, keys)],
  );

  for (let from = 1; from <= rows; from += chunk) {
    const to = Math.min(rows, from + chunk - 1);
    await client.query(TASKS_INSERT, [from, to, rows, open, seconds, block, keys, Math.min(history.batchOwners, keys), LOREM]);
    options.progress?.(to, rows);
  }

  // An ended batch keeps its counts per status, as BatchRepository.transition keeps them when it ends. One
  // pass over the items (the indexes are not rebuilt yet: a count per batch read the whole table each time,
  // 310 sequential scans of 16 GB at 10 M rows).
  await client.query(
    `UPDATE batches b SET final_counts = c.counts
       FROM (SELECT batch_id, jsonb_object_agg(status, n) AS counts
               FROM (SELECT batch_id, status, count(*) AS n FROM tasks WHERE batch_id IS NOT NULL GROUP BY 1, 2) x GROUP BY 1) c
      WHERE c.batch_id = b.id AND b.status IN ('completed', 'failed', 'expired', 'cancelled')`,
  );

  // The final delivery of every finished task whose webhook asked for its event (COMPLETED and FAILED).
  await client.query(
    `INSERT INTO webhook_deliveries (id, owner_id, api_key_id, task_id, event_type, url, payload, status, attempt_count, created_at, delivered_at)
     SELECT 'msg_' || md5('delivery ' || task_id), owner_id, api_key_id, task_id, 'task.' || lower(status::text), webhook ->> 'url',
            jsonb_build_object('type', 'task.' || lower(status::text), 'data', jsonb_build_object('task_id', task_id, 'status', status)),
            'succeeded', 1, completed_at, completed_at + interval '80 milliseconds'
       FROM tasks WHERE webhook IS NOT NULL AND status IN ('COMPLETED', 'FAILED')`,
  );

  for (const index of secondary.rows) await client.query(index.definition);
  await client.query("RESET session_replication_role").catch(() => undefined);
  await client.query("VACUUM ANALYZE users, api_keys, batches, tasks, webhook_deliveries");
}

// $1..$2 the positions of this chunk (1 = oldest), $3 all rows, $4 open tasks, $5 seconds between tasks,
// $6 batch block, $7 users, $8 batch owners, $9 the text messages and answers are cut from.
const TASKS_INSERT = `
INSERT INTO tasks (task_id, owner_id, model, endpoint, queue_name, messages, configs, status, percent, response, choices,
                   finish_reason, prompt_tokens, completion_tokens, attempts, created_at, started_at, first_token_at,
                   completed_at, updated_at, batch_id, custom_id, batch_index, webhook, api_key_id, expires_at, run_timeout_ms,
                   service_tier, error_code, error_message, upstream, served_model, final_status)
SELECT CASE WHEN batch IS NULL THEN md5('task ' || i) ELSE left(encode(sha256(convert_to(batch || ':' || batch_index, 'UTF8')), 'hex'), 32) END,
       ('00000000-0000-4000-a000-' || lpad(to_hex(owner_n), 12, '0'))::uuid, model, endpoint,
       'llm_' || translate(model, '-.', '__') || '_queue',
       jsonb_build_array(
         jsonb_build_object('role', 'system', 'content', 'You are a careful assistant of tenant ' || owner_n || '. Answer briefly and cite the figures you use.'),
         jsonb_build_object('role', 'user', 'content', substr($9::text, (1 + (i * 37) % 300)::int, (90 + (i * 13) % 220)::int))),
       jsonb_build_object('model', model, 'max_tokens', 256 + (i % 4) * 256, 'temperature', 0.7, 'stream', i % 3 = 0)
         || CASE WHEN endpoint = 'response' THEN '{"responses":{"store":true,"background":false,"input_messages":1}}'::jsonb ELSE '{}'::jsonb END,
       status::"TaskStatus",
       CASE WHEN status = 'COMPLETED' THEN 100 WHEN status = 'RUNNING' THEN 40 ELSE 0 END,
       CASE WHEN status IN ('COMPLETED', 'RUNNING', 'CANCELLED') THEN answer ELSE '' END,
       CASE WHEN status IN ('COMPLETED', 'RUNNING', 'CANCELLED') THEN jsonb_build_array(jsonb_build_object('index', 0, 'text', answer, 'finish_reason', CASE WHEN status = 'COMPLETED' THEN 'stop' END)) END,
       CASE WHEN status = 'COMPLETED' THEN CASE WHEN i % 50 = 0 THEN 'length' ELSE 'stop' END WHEN status = 'CANCELLED' THEN 'cancelled' END,
       CASE WHEN status IN ('COMPLETED', 'FAILED', 'CANCELLED') THEN 40 + (i * 13) % 220 / 3 END,
       CASE WHEN status IN ('COMPLETED', 'RUNNING', 'CANCELLED') THEN length(answer) / 4 ELSE 0 END,
       CASE WHEN status IN ('PENDING', 'EXPIRED') THEN 0 WHEN i % 40 = 0 THEN 2 ELSE 1 END,
       created,
       CASE WHEN status NOT IN ('PENDING', 'EXPIRED') THEN created + interval '300 milliseconds' END,
       CASE WHEN status IN ('COMPLETED', 'RUNNING', 'CANCELLED') THEN created + interval '450 milliseconds' END,
       CASE WHEN status NOT IN ('PENDING', 'RUNNING') THEN created + (2 + i % 9) * interval '1 second' END,
       CASE WHEN status IN ('PENDING', 'RUNNING') THEN created ELSE created + (2 + i % 9) * interval '1 second' END,
       batch, CASE WHEN batch IS NOT NULL THEN 'request-' || batch_index END, batch_index,
       CASE WHEN batch IS NULL AND i % 20 = 3 THEN jsonb_build_object('url', 'https://hooks.tenant' || owner_n || '.example.com/llmq', 'events', '["completed","failed"]'::jsonb, 'key_id', NULL) END,
       CASE WHEN batch IS NOT NULL OR i % 4 <> 0 THEN ('00000000-0000-4000-b000-' || lpad(to_hex(owner_n), 12, '0'))::uuid END,
       CASE WHEN batch IS NULL THEN created + interval '1 day' END,
       600000,
       CASE WHEN batch IS NOT NULL THEN 'flex' WHEN i % 25 = 0 THEN 'priority' ELSE 'default' END,
       CASE WHEN status = 'FAILED' THEN 'upstream_error' WHEN status = 'EXPIRED' THEN 'queue_ttl_exceeded' END,
       CASE WHEN status = 'FAILED' THEN 'The upstream answered 502 Bad Gateway three times.' WHEN status = 'EXPIRED' THEN 'No worker started the task before its queue deadline (queue_ttl_seconds).' END,
       CASE WHEN status IN ('COMPLETED', 'FAILED', 'CANCELLED') THEN 'upstream-' || (i % 3) END,
       CASE WHEN status IN ('COMPLETED', 'FAILED', 'CANCELLED') THEN model END,
       -- final_status (the app's trigger writes it with completed_at: triggers do not fire during the fill)
       CASE WHEN status NOT IN ('PENDING', 'RUNNING') THEN status::"TaskStatus" END
  FROM (
    SELECT i, created, batch, batch_index, owner_n, model,
           CASE WHEN batch IS NULL THEN CASE (i * 7) % 20 WHEN 0 THEN 'chat.completion' WHEN 7 THEN 'chat.completion' WHEN 14 THEN 'chat.completion'
                                                         WHEN 1 THEN 'chat.completion' WHEN 8 THEN 'chat.completion' WHEN 15 THEN 'text_completion'
                                                         WHEN 2 THEN 'response' WHEN 9 THEN 'response' ELSE 'task' END
                ELSE 'task' END AS endpoint,
           CASE WHEN i > $3::bigint - $4::int THEN CASE WHEN i <= $3::bigint - $4::int * 4 / 5 THEN 'RUNNING' ELSE 'PENDING' END
                WHEN i % 100 < 3 THEN 'FAILED' WHEN i % 100 < 5 THEN 'CANCELLED' WHEN i % 100 = 5 THEN 'EXPIRED' ELSE 'COMPLETED' END AS status,
           substr($9::text, (1 + (i * 53) % 250)::int, (100 + (i * 29) % 300)::int) AS answer
      FROM (
        SELECT i, now() - ($3::bigint - i) * $5::float8 * interval '1 second' AS created,
               CASE WHEN (i - 1) % 10 < 2 THEN 'batch_' || lpad(to_hex(b), 32, '0') END AS batch,
               CASE WHEN (i - 1) % 10 < 2 THEN ((i - 1 - first_position) / 10 * 2 + (i - 1) % 10)::int END AS batch_index,
               CASE WHEN (i - 1) % 10 < 2 THEN 1 + (b * 7) % $8::int
                    ELSE 1 + floor($7::int * power(((i * 7919) % 100003) / 100003.0, 2))::int END AS owner_n,
               CASE WHEN i % 1000 = 7 THEN 'legacy-model' WHEN i % 100 = 3 THEN 'deepseek-r1'
                    ELSE (ARRAY['llama-3.1-8b-instruct','llama-3.1-8b-instruct','llama-3.1-8b-instruct','llama-3.1-8b-instruct','llama-3.1-8b-instruct','llama-3.1-8b-instruct','llama-3.1-8b-instruct','llama-3.1-8b-instruct','llama-3.1-8b-instruct',
                                'gemma-7b','gemma-7b','gemma-7b','gemma-7b','gemma-7b','qwen-72b','qwen-72b','qwen-72b','mistral-small','mistral-small','mistral-small'])[1 + (i * 11) % 20] END AS model
          FROM (
            SELECT i, b, CASE WHEN block % 4 = 0 THEN block * $6::bigint ELSE block * $6::bigint + (b % 10) * ($6::bigint / 10) END AS first_position
              FROM (
                SELECT i, (i - 1) / $6::bigint AS block,
                       CASE WHEN ((i - 1) / $6::bigint) % 4 = 0 THEN ((i - 1) / $6::bigint) * 10
                            ELSE ((i - 1) / $6::bigint) * 10 + ((i - 1) % $6::bigint) * 10 / $6::bigint END AS b
                  FROM generate_series($1::bigint, $2::bigint) i
              ) p
          ) q
      ) base
  ) shaped`;

/** SHA-256 hex of a key secret: what api_keys.key_hash holds for history.keySecret(n). */
export function historyKeyHash(n: number): string {
  return createHash("sha256").update(history.keySecret(n)).digest("hex");
}
