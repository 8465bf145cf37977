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
import { randomBytes } from "node:crypto";
import http from "node:http";
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

/** Jobs and answers travel as "<task id> <payload>": the id, and the rest as sent. */
function idAndPayload(message: string): [id: string, payload: string] {
  const space = message.indexOf(" ");
  return [message.slice(0, space), message.slice(space + 1)];
}

const START_AND_COMPLETE = `UPDATE tasks SET status = 'COMPLETED', attempts = attempts + 1, started_at = now(), percent = 100, response = $2, completed_at = now(), updated_at = now() WHERE task_id = $1 AND status = 'PENDING'`;

async function edge(): Promise<void> {
  const pool = new Pool({ connectionString: env("DATABASE_URL"), max: 4 });
  const redis = new Redis(env("REDIS_URL"));
  const subscriber = new Redis(env("REDIS_URL"));
  const owner = env("FLOOR_OWNER_ID");
  const queueName = env("FLOOR_QUEUE");
  const waiting = new Map<string, (answer: string) => void>();
  subscriber.on("message", (_channel: string, message: string) => {
    const [id, answer] = idAndPayload(message);
    waiting.get(id)?.(answer);
    waiting.delete(id);
  });
  await subscriber.subscribe(done);

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      void (async () => {
        const raw = Buffer.concat(chunks).toString();
        const body = JSON.parse(raw) as { model: string; messages: unknown; max_tokens?: number };
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
    void Promise.all([pool.end(), redis.quit(), subscriber.quit()]).then(() => process.exit(0));
  });
}

async function runner(): Promise<void> {
  const pool = new Pool({ connectionString: env("DATABASE_URL"), max: 4 });
  const redis = new Redis(env("REDIS_URL"));
  const blocking = new Redis(env("REDIS_URL"));
  const upstream = new URL("chat/completions", `${env("FIXTURE_URL")}/`);
  const agent = new http.Agent({ keepAlive: true });
  let stopping = false;
  process.on("SIGTERM", () => {
    stopping = true;
    blocking.disconnect();
    void Promise.all([pool.end(), redis.quit()]).then(() => process.exit(0));
  });

  const call = (body: string) =>
    new Promise<string>((resolve, reject) => {
      const req = http.request(upstream, { method: "POST", agent, headers: { authorization: "Bearer bench", "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve(Buffer.concat(chunks).toString()));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });

  const run = async (id: string, job: string) => {
    const answer = await call(job);
    const text = (JSON.parse(answer) as { choices: { message: { content: string } }[] }).choices[0]!.message.content;
    const completed = await pool.query({ name: "floor_complete", text: START_AND_COMPLETE, values: [id, text] });
    if (completed.rowCount !== 1) throw new Error(`task ${id} was not PENDING`);
    await redis.publish(done, `${id} ${answer}`);
  };

  console.log("FLOOR runner");
  while (!stopping) {
    const popped = await blocking.brpop(jobs, 0).catch(() => null);
    if (!popped) continue;
    const [id, body] = idAndPayload(popped[1]);
    void run(id, body).catch((error: unknown) => {
      console.error(error);
      void redis.publish(done, `${id} !${String(error)}`);
    });
  }
}

if (role === "edge") void edge();
else if (role === "runner") void runner();
else throw new Error("usage: floor-main.ts edge|runner");
