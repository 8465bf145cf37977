// Figure 8's "design floor": the fewest steps a waited completion can take while keeping DESIGN.md's
// rules, done with bare clients and nothing else, in two processes of its own:
//
//   edge   (as the API)    HTTP request -> INSERT the task row into the real `tasks` table (commit) ->
//                          LPUSH its job -> wait for the runner's PUBLISH -> answer the upstream's body
//   runner (as a worker)   BRPOP wakes (the job is its own: nobody else pops it) -> the upstream request
//                          (the same fixture, the same body) -> one UPDATE that starts and completes the
//                          task, fenced by its status (commit) -> PUBLISH
//
// The rules kept: the row is committed before its job exists; a process other than the edge calls the
// upstream; the completion is committed, conditionally, before the answer leaves. The start is folded into
// the completion's statement (allowed for an answer that wrote nothing before it: see "lazystart" in
// docs/performance.md), so there are two commits on the path, the fewest the rules allow. What
// it leaves out is everything else the service does on the same path: authentication and revocation, the
// request's schema, limits and leases, fair dispatch, the task's event stream, live lists, metrics,
// logging. So it is a lower bound for the service's added latency on this machine, not a competitor: what
// a waited completion costs when it is durable and run by a worker, before any of the product.
//
// A streamed request (`"stream": true`, figure 4's floor) takes the rules' steps for a stream:
//
//   edge    HTTP request -> the task row INSERTed with every other row of its event-loop turn (one
//           multi-row INSERT, committed: the group commit DESIGN.md allows) -> LPUSH of their jobs -> SSE
//           headers; each token heard on one subscription for all streams is written as it comes
//   runner  BRPOP -> the start (a fenced UPDATE to RUNNING, committed) beside the upstream's streamed
//           request -> each token XADDed to the task's Redis Stream (a late or reconnecting reader must find
//           it) and PUBLISHed, a turn's commands pipelined together -> at the end the fenced completion
//           (committed, after the start's) -> the final XADD and PUBLISH
//
// Tokens are not held for the start's commit (the service holds them, so that a task refused its start
// writes none): lower still.
//
// An asynchronous submit (`POST /v1/ai/text_completion`, figure 1's floor): the row group-committed as a
// stream's, its job LPUSHed (on a list no runner pops: figure 1's tasks are not run), then the task id
// answered.
import { randomBytes } from "node:crypto";
import http from "node:http";
import express from "express";
import { Redis } from "ioredis";
import { Pool } from "pg";
import { INSERT_TASK } from "./figures/cleanup";

const role = process.argv[2];
const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};
const prefix = env("FLOOR_PREFIX");
const jobs = `${prefix}:jobs`;
const done = `${prefix}:done`;
/** Streamed requests' tokens, "<task id> <upstream chunk>" ("<task id> [DONE]" at the end), one channel for all. */
const tokens = `${prefix}:tokens`;
const taskStream = (id: string) => `${prefix}:task:${id}`;
/** Submitted (not run) tasks' jobs; deleted when the edge stops. */
const submitted = `${prefix}:submitted`;

/** Jobs and answers travel as "<task id> <payload>": the id, and the rest as sent. */
function idAndPayload(message: string): [id: string, payload: string] {
  const space = message.indexOf(" ");
  return [message.slice(0, space), message.slice(space + 1)];
}

const START_AND_COMPLETE = `UPDATE tasks SET status = 'COMPLETED', attempts = attempts + 1, started_at = now(), percent = 100, response = $2, completed_at = now(), updated_at = now() WHERE task_id = $1 AND status = 'PENDING'`;
/** Many streamed requests' rows in one statement: $1 ids, $6 models, $7 messages, $8 configs (as text). */
const INSERT_GROUP = `INSERT INTO tasks (task_id, owner_id, model, endpoint, queue_name, messages, configs, webhook, api_key_id, expires_at, run_timeout_ms, updated_at)
  SELECT t.id, $2::uuid, t.model, 'task', $3, t.messages::jsonb, t.configs::jsonb, NULL, NULL, now() + make_interval(secs => $4), $5, now()
  FROM unnest($1::text[], $6::text[], $7::text[], $8::text[]) AS t(id, model, messages, configs)`;
const START = `UPDATE tasks SET status = 'RUNNING', attempts = attempts + 1, started_at = now(), updated_at = now() WHERE task_id = $1 AND status = 'PENDING'`;
const COMPLETE = `UPDATE tasks SET status = 'COMPLETED', percent = 100, response = $2, completed_at = now(), updated_at = now() WHERE task_id = $1 AND status = 'RUNNING' AND attempts = 1`;

async function edge(): Promise<void> {
  const pool = new Pool({ connectionString: env("DATABASE_URL"), max: 4 });
  const redis = new Redis(env("REDIS_URL"));
  const subscriber = new Redis(env("REDIS_URL"));
  const owner = env("FLOOR_OWNER_ID");
  const queueName = env("FLOOR_QUEUE");
  const waiting = new Map<string, (answer: string) => void>();
  const streams = new Map<string, http.ServerResponse>();
  subscriber.on("message", (channel: string, message: string) => {
    const [id, payload] = idAndPayload(message);
    if (channel === tokens) {
      const res = streams.get(id);
      if (!res) return;
      res.write(`data: ${payload}\n\n`);
      if (payload === "[DONE]") {
        res.end();
        streams.delete(id);
      }
      return;
    }
    waiting.get(id)?.(payload);
    waiting.delete(id);
  });
  await subscriber.subscribe(done, tokens);

  // Streamed requests' and submits' rows: those of one event-loop turn go in one INSERT (and one LPUSH)
  // while the previous group's is on its way, as the service's group commit does.
  let group: { id: string; raw: string; res: http.ServerResponse; model: string; messages: string; configs: string; submit: boolean }[] = [];
  let inserting = false;
  const flushGroup = async () => {
    if (inserting || group.length === 0) return;
    inserting = true;
    const rows = group;
    group = [];
    try {
      await pool.query({
        name: "floor_insert_group",
        text: INSERT_GROUP,
        values: [rows.map((row) => row.id), owner, queueName, 86_400, 600_000, rows.map((row) => row.model), rows.map((row) => row.messages), rows.map((row) => row.configs)],
      });
      const streamed = rows.filter((row) => !row.submit);
      const submits = rows.filter((row) => row.submit);
      for (const row of streamed) {
        streams.set(row.id, row.res);
        row.res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      }
      await Promise.all([
        streamed.length > 0 ? redis.lpush(jobs, ...streamed.map((row) => `${row.id} ${row.raw}`)) : null,
        submits.length > 0 ? redis.lpush(submitted, ...submits.map((row) => `${row.id} ${row.raw}`)) : null,
      ]);
      for (const row of submits) {
        if (viaExpress) {
          (row.res as express.Response).json({ task_id: row.id });
          continue;
        }
        const answer = JSON.stringify({ task_id: row.id });
        row.res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(answer) }).end(answer);
      }
    } catch (error) {
      // A stream already answered 200 ends early (the bench sees it cut); the others get a 500.
      for (const row of rows) {
        streams.delete(row.id);
        if (row.res.headersSent) row.res.end();
        else row.res.writeHead(500).end(String(error));
      }
    } finally {
      inserting = false;
      if (group.length > 0) setImmediate(() => void flushGroup());
    }
  };

  type Body = { model: string; messages: unknown; max_tokens?: number; stream?: boolean; configs?: { model: string } };
  /** A streamed request's or submit's row joins this turn's group (the first to join schedules its INSERT). */
  const joinGroup = (res: http.ServerResponse, raw: string, body: Body, submit: boolean) => {
    const configs = JSON.stringify(submit ? body.configs : { max_tokens: body.max_tokens });
    group.push({ id: randomBytes(16).toString("hex"), raw, res, model: submit ? body.configs!.model : body.model, messages: JSON.stringify(body.messages), configs, submit });
    if (group.length === 1) setImmediate(() => void flushGroup());
  };
  /**
   * FLOOR_HTTP=express: the same edge's submits served by Express 5 (express.json(), res.json()), which
   * issue 13 keeps: what the framework itself costs the floor, before any of the product's middleware.
   */
  const expressApp = () => {
    const app = express();
    app.set("etag", false);
    app.set("x-powered-by", false);
    app.post("/v1/ai/text_completion", express.json(), (req, res) => joinGroup(res, JSON.stringify(req.body), req.body as Body, true));
    return app;
  };
  const viaExpress = process.env.FLOOR_HTTP === "express";

  const server = http.createServer(viaExpress ? expressApp() : (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      void (async () => {
        const raw = Buffer.concat(chunks).toString();
        const body = JSON.parse(raw) as Body;
        const submit = req.url?.startsWith("/v1/ai/text_completion") === true;
        if (body.stream || submit) return joinGroup(res, raw, body, submit);
        const id = randomBytes(16).toString("hex");
        await pool.query({ name: "floor_insert", text: INSERT_TASK, values: [id, owner, body.model, queueName, JSON.stringify(body.messages), JSON.stringify({ max_tokens: body.max_tokens }), 86_400, 600_000] });
        const answer = new Promise<string>((resolve) => waiting.set(id, resolve));
        await redis.lpush(jobs, `${id} ${raw}`);
        const text = await answer;
        // A runner's failure comes back as "!" and its message: answered 500, so the figure fails instead of waiting.
        res.writeHead(text.startsWith("!") ? 500 : 200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
        res.end(text);
      })().catch((error: unknown) => {
        res.writeHead(500).end(String(error));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  console.log(`FLOOR http://127.0.0.1:${(server.address() as { port: number }).port}`);
  process.on("SIGTERM", () => {
    server.close();
    void redis
      .del(submitted)
      .catch(() => undefined)
      .then(() => Promise.all([pool.end(), redis.quit(), subscriber.quit()]))
      .then(() => process.exit(0));
  });
}

async function runner(): Promise<void> {
  const pool = new Pool({ connectionString: env("DATABASE_URL"), max: 4 });
  const redis = new Redis(env("REDIS_URL"));
  // Streamed tasks' appends: a turn's commands in one pipeline (the non-stream path keeps its plain connection).
  const appends = new Redis(env("REDIS_URL"), { enableAutoPipelining: true });
  const blocking = new Redis(env("REDIS_URL"));
  const upstream = new URL("chat/completions", `${env("FIXTURE_URL")}/`);
  const agent = new http.Agent({ keepAlive: true });
  let stopping = false;
  process.on("SIGTERM", () => {
    stopping = true;
    blocking.disconnect();
    void Promise.all([pool.end(), redis.quit(), appends.quit()]).then(() => process.exit(0));
  });

  /** POSTs `body` to the upstream; the response, once its headers are in. */
  const send = (body: string) =>
    new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request(upstream, { method: "POST", agent, headers: { authorization: "Bearer bench", "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, resolve);
      req.on("error", reject);
      req.end(body);
    });

  const call = async (body: string) => {
    const res = await send(body);
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString();
  };

  const run = async (id: string, job: string) => {
    const answer = await call(job);
    const text = (JSON.parse(answer) as { choices: { message: { content: string } }[] }).choices[0]!.message.content;
    const completed = await pool.query({ name: "floor_complete", text: START_AND_COMPLETE, values: [id, text] });
    if (completed.rowCount !== 1) throw new Error(`task ${id} was not PENDING`);
    await redis.publish(done, `${id} ${answer}`);
  };

  /** Calls the upstream streamed; each `data:` payload (the [DONE] left out) to `onChunk` as it comes. */
  const callStreamed = async (body: string, onChunk: (payload: string) => void) => {
    const res = await send(body);
    res.setEncoding("utf8");
    let buffered = "";
    for await (const chunk of res) {
      buffered += chunk as string;
      let end: number;
      while ((end = buffered.indexOf("\n\n")) >= 0) {
        const frame = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        for (const line of frame.split("\n")) {
          if (line.startsWith("data: ") && line !== "data: [DONE]") onChunk(line.slice(6));
        }
      }
    }
  };

  const runStreamed = async (id: string, job: string) => {
    const started = pool.query({ name: "floor_start", text: START, values: [id] });
    started.catch(() => undefined);
    let text = "";
    await callStreamed(job, (payload) => {
      text += (JSON.parse(payload) as { choices: { delta?: { content?: string } }[] }).choices[0]?.delta?.content ?? "";
      void appends.xadd(taskStream(id), "MAXLEN", "~", "1000", "*", "d", payload);
      void appends.publish(tokens, `${id} ${payload}`);
    });
    if ((await started).rowCount !== 1) throw new Error(`task ${id} was not PENDING`);
    const completed = await pool.query({ name: "floor_complete_streamed", text: COMPLETE, values: [id, text] });
    if (completed.rowCount !== 1) throw new Error(`task ${id} was not RUNNING`);
    void appends.xadd(taskStream(id), "MAXLEN", "~", "1000", "*", "d", "[DONE]");
    void appends.expire(taskStream(id), 600);
    await appends.publish(tokens, `${id} [DONE]`);
  };

  const launch = (message: string) => {
    const [id, body] = idAndPayload(message);
    const streamed = (JSON.parse(body) as { stream?: boolean }).stream === true;
    void (streamed ? runStreamed(id, body) : run(id, body)).catch((error: unknown) => {
      console.error(error);
      void redis.publish(streamed ? tokens : done, streamed ? `${id} [DONE]` : `${id} !${String(error)}`);
    });
  };

  console.log("FLOOR runner");
  while (!stopping) {
    const popped = await blocking.brpop(jobs, 0).catch(() => null);
    if (!popped) continue;
    launch(popped[1]);
    // Then every job waiting with it, in one round trip (as a DISPATCH leases many), after the first has started.
    for (const message of (await blocking.rpop(jobs, 100).catch(() => null)) ?? []) launch(message);
  }
}

if (role === "edge") void edge();
else if (role === "runner") void runner();
else throw new Error("usage: floor-main.ts edge|runner");
