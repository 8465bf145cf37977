import type { Client } from "pg";

/** Ids the realistic table is filled with, so tests can aim at rows of a known kind. */
export const realistic = {
  userId: (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`,
  keyId: (n: number) => `00000000-0000-4000-9000-${n.toString(16).padStart(12, "0")}`,
  batchId: (n: number) => `batch_${n.toString(16).padStart(32, "0")}`,
  taskId: (i: number) => i.toString(16).padStart(32, "0"),
  users: 40,
  batches: 12,
};

/**
 * Fills an empty migrated database with a month of traffic: `rows` tasks (default 200,000) over 40 users
 * (skewed: user 1 owns the most), 30 % of them items of 12 native batches of which the last is still
 * running, 4 models and a rare fifth, 1 % of the newest still open (900 RUNNING, the rest PENDING), the
 * rest COMPLETED / FAILED / CANCELLED / EXPIRED; interactive tasks carry a queue deadline, a third no
 * API key, a tenth a webhook; a tenth of all tasks are Responses API tasks (`endpoint` response), a tenth of
 * those erased (deleted by their owner). Then ANALYZE, so the planner sees the table as production would.
 */
export async function fillRealisticTasks(client: Client, rows = 200_000): Promise<void> {
  const { users, batches } = realistic;
  const perBatch = Math.ceil(rows / batches);
  await client.query(`
    INSERT INTO users (id, name, created_at)
    SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(u), 12, '0'))::uuid, 'user ' || u, now() - interval '60 days'
      FROM generate_series(1, ${users}) u`);
  await client.query(`
    INSERT INTO api_keys (id, user_id, name, key_hash, prefix)
    SELECT ('00000000-0000-4000-9000-' || lpad(to_hex(u), 12, '0'))::uuid, ('00000000-0000-4000-8000-' || lpad(to_hex(u), 12, '0'))::uuid,
           'key ' || u, 'hash-' || u, 'llmq_' || u
      FROM generate_series(1, ${users}) u`);
  await client.query(`
    INSERT INTO batches (id, owner_id, kind, endpoint, status, total_count, created_at, expires_at, in_progress_at, completed_at)
    SELECT 'batch_' || lpad(to_hex(b), 32, '0'), ('00000000-0000-4000-8000-' || lpad(to_hex(1 + b % 5), 12, '0'))::uuid, 'native', 'task',
           CASE WHEN b = ${batches} THEN 'in_progress' ELSE 'completed' END, ${Math.round(perBatch * 0.3)},
           now() - (${batches + 1} - b) * interval '2.5 days', now() + interval '1 day', now() - (${batches + 1} - b) * interval '2.5 days',
           CASE WHEN b = ${batches} THEN NULL ELSE now() - (${batches} - b) * interval '2.5 days' END
      FROM generate_series(1, ${batches}) b`);
  // i: 1 (oldest) .. rows (newest), 13 s apart; i % 10 < 3 are batch items (batch by time range).
  await client.query(`
    INSERT INTO tasks (task_id, owner_id, model, endpoint, queue_name, messages, configs, status, percent, response, choices,
                       finish_reason, prompt_tokens, completion_tokens, attempts, created_at, started_at, first_token_at,
                       completed_at, updated_at, batch_id, custom_id, batch_index, webhook, api_key_id, expires_at, run_timeout_ms,
                       error_code, error_message)
    SELECT lpad(to_hex(i), 32, '0'), owner, model, CASE WHEN is_response THEN 'response' ELSE 'task' END, 'llm_' || replace(model, '-', '_') || '_queue',
           '[{"role":"user","content":"Summarise the following paragraph in one sentence, please."}]'::jsonb,
           jsonb_build_object('model', model, 'max_tokens', 40, 'temperature', 0.7)
             || CASE WHEN NOT is_response THEN '{}'::jsonb
                     WHEN i % 100 = 17 THEN '{"responses":{"erased":true,"store":true,"background":true}}'::jsonb
                     ELSE '{"responses":{"store":true,"background":true,"input_messages":1}}'::jsonb END,
           status::"TaskStatus",
           CASE WHEN status = 'COMPLETED' THEN 100 WHEN status = 'RUNNING' THEN 40 ELSE 0 END,
           CASE WHEN status IN ('COMPLETED', 'RUNNING') THEN repeat('token ', CASE WHEN status = 'COMPLETED' THEN 40 ELSE 16 END) ELSE '' END,
           CASE WHEN status IN ('COMPLETED', 'RUNNING') THEN jsonb_build_array(jsonb_build_object('index', 0, 'text', repeat('token ', 40))) END,
           CASE WHEN status = 'COMPLETED' THEN 'stop' WHEN status = 'CANCELLED' THEN 'cancelled' END,
           CASE WHEN status IN ('COMPLETED', 'FAILED') THEN 12 END,
           CASE WHEN status = 'COMPLETED' THEN 40 WHEN status = 'RUNNING' THEN 16 ELSE 0 END,
           CASE WHEN status IN ('PENDING', 'EXPIRED') THEN 0 ELSE 1 END,
           created, CASE WHEN status NOT IN ('PENDING', 'EXPIRED') THEN created + interval '1 second' END,
           CASE WHEN status IN ('COMPLETED', 'RUNNING') THEN created + interval '1.2 seconds' END,
           CASE WHEN status NOT IN ('PENDING', 'RUNNING') THEN created + interval '5 seconds' END,
           CASE WHEN status IN ('PENDING', 'RUNNING') THEN created ELSE created + interval '5 seconds' END,
           batch, CASE WHEN batch IS NOT NULL THEN 'line-' || i END, CASE WHEN batch IS NOT NULL THEN i END,
           CASE WHEN batch IS NULL AND i % 10 = 5 THEN '{"url":"https://hooks.example.com/llmq","events":["completed","failed"],"key_id":null}'::jsonb END,
           CASE WHEN batch IS NULL AND i % 3 <> 0 THEN ('00000000-0000-4000-9000-' || lpad(to_hex(owner_n), 12, '0'))::uuid END,
           CASE WHEN batch IS NULL THEN created + interval '1 day' END,
           600000,
           CASE WHEN status IN ('FAILED', 'EXPIRED') THEN 'upstream_error' END,
           CASE WHEN status IN ('FAILED', 'EXPIRED') THEN 'The upstream answered 500.' END
      FROM (
        SELECT i, created, batch, owner_n, ('00000000-0000-4000-8000-' || lpad(to_hex(owner_n), 12, '0'))::uuid AS owner,
               batch IS NULL AND i % 10 = 7 AS is_response,
               CASE WHEN i % 97 = 0 THEN 'rare-model' ELSE 'model-' || (i % 4) END AS model,
               CASE WHEN i > ${rows} - ${Math.round(rows * 0.01)} THEN (CASE WHEN i <= ${rows} - ${Math.round(rows * 0.01)} + 900 THEN 'RUNNING' ELSE 'PENDING' END)
                    WHEN i % 100 < 3 THEN 'FAILED' WHEN i % 100 < 5 THEN 'CANCELLED' WHEN i % 100 = 5 THEN 'EXPIRED' ELSE 'COMPLETED' END AS status
          FROM (
            SELECT i, now() - (${rows} - i) * interval '13 seconds' AS created,
                   CASE WHEN i % 10 < 3 THEN 'batch_' || lpad(to_hex(1 + (i - 1) / ${perBatch}), 32, '0') END AS batch,
                   CASE WHEN i % 10 < 3 THEN 1 + (1 + (i - 1) / ${perBatch}) % 5 ELSE 1 + floor(${users} * power((i * 7919 % 1000) / 1000.0, 2))::int END AS owner_n
              FROM generate_series(1, ${rows}) i
          ) base
      ) shaped`);
  // Statistics over every row (the sample covers the table), so plans do not change from run to run.
  await client.query("SET default_statistics_target = 1000");
  await client.query("ANALYZE users, api_keys, batches, tasks");
  await client.query("RESET default_statistics_target");
}
