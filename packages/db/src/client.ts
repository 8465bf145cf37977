import { PrismaPg } from "@prisma/adapter-pg";
import { Pool } from "pg";
import { PrismaClient } from "./generated/prisma/client";

export type Database = PrismaClient;

/** The pg pool under each client: one set of connections for Prisma and for the queries it handles badly. */
const pools = new WeakMap<Database, Pool>();

/** Marks errors that came out of this package's own pg queries, so isDatabaseUnavailable can judge them. */
const FROM_DATABASE = Symbol.for("llmq.database-error");

function markedAsDatabase(error: unknown): never {
  if (error && typeof error === "object") (error as Record<symbol, unknown>)[FROM_DATABASE] = true;
  throw error;
}

/** `call` with the errors of the promises it returns marked as the database's. */
function marking(call: (...args: never[]) => unknown): (...args: unknown[]) => unknown {
  const original = call as (...args: unknown[]) => unknown;
  return (...args) => {
    const result = original(...args);
    return result instanceof Promise ? result.catch(markedAsDatabase) : result;
  };
}

/** Creates the Prisma client over a pg pool (driver adapter: no native query engine). */
export function createDatabase(options: { databaseUrl: string; poolSize?: number }): Database {
  const pool = new Pool({
    connectionString: options.databaseUrl,
    max: options.poolSize ?? 10,
    // Fail fast when Postgres is down so callers can answer 503 instead of hanging.
    connectionTimeoutMillis: 5_000,
  });
  // An idle connection the server dropped: pg discards it and the next query opens another.
  pool.on("error", () => undefined);
  // The hot-path statements run on this pool directly (task-sql.ts), some on a checked-out connection
  // (file quotas' transaction): their errors are marked, so isDatabaseUnavailable alone can tell "Postgres
  // is down" (503, wait, keep the attempt) from anything else. Promise calls only, as ours are.
  pool.query = marking(pool.query.bind(pool)) as Pool["query"];
  // pg-pool's own query() checks out with a callback: that form passes through (its errors are marked above).
  pool.connect = marking(pool.connect.bind(pool)) as Pool["connect"];
  pool.on("connect", (client) => {
    client.query = marking(client.query.bind(client)) as typeof client.query;
  });
  const db = new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) });
  pools.set(db, pool);
  return db;
}

/**
 * The pg pool under `db`, for large binary values (file chunks). Prisma passes every raw query's
 * parameters through its query engine and keeps about the last hundred requests: with 1 MiB values
 * that is ~170 MB of heap per process, and each MiB costs 20-100 ms instead of pg's 5. Internal to this package.
 */
export function poolOf(db: Database): Pool {
  const pool = pools.get(db);
  if (!pool) throw new Error("this client was not made by createDatabase");
  return pool;
}

/** True when Postgres answers a trivial query (readiness probe). */
export async function pingDatabase(db: Database): Promise<boolean> {
  try {
    await db.$queryRaw`SELECT 1`;
    return true;
  } catch {
    return false;
  }
}

// Prisma's codes for an unreachable or closed server and an exhausted pool; Postgres's "shutting
// down" / "starting up" / connection-exception states; the socket errors under them.
const UNAVAILABLE_CODES = new Set(["P1001", "P1002", "P1017", "P2024", "57P01", "57P02", "57P03", "08000", "08003", "08006", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE"]);
const UNAVAILABLE_KINDS = new Set(["DatabaseNotReachable", "ConnectionClosed", "SocketTimeout"]);
const UNAVAILABLE_MESSAGE = /Can't reach database server|Connection terminated|Connection is closed|connection error|terminating connection|the database system is (starting up|shutting down)|ECONNREFUSED/i;

/**
 * True when `error` is Prisma's (or its driver adapter's, or one of our plain pg queries') saying Postgres is out of reach (down,
 * restarting, cut), not that the query was wrong. Errors of anything else (an upstream LLM refusing
 * connections, say) are never taken for it, whatever their cause.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  const fromDatabase = (error as Record<symbol, unknown> | null)?.[FROM_DATABASE] === true;
  if (!fromDatabase && (typeof name !== "string" || !(name.startsWith("PrismaClient") || name === "DriverAdapterError"))) return false;
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const { code, kind, originalCode, message, cause } = current as { code?: unknown; kind?: unknown; originalCode?: unknown; message?: unknown; cause?: unknown };
    if ((typeof code === "string" && UNAVAILABLE_CODES.has(code)) || (typeof originalCode === "string" && UNAVAILABLE_CODES.has(originalCode))) return true;
    if (typeof kind === "string" && UNAVAILABLE_KINDS.has(kind)) return true;
    if (typeof message === "string" && UNAVAILABLE_MESSAGE.test(message)) return true;
    current = cause;
  }
  return false;
}
