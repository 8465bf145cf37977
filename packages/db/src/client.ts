import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "./generated/prisma/client";

export type Database = PrismaClient;

/** Creates the Prisma client over a pg pool (driver adapter: no native query engine). */
export function createDatabase(options: { databaseUrl: string; poolSize?: number }): Database {
  const adapter = new PrismaPg({
    connectionString: options.databaseUrl,
    max: options.poolSize ?? 10,
    // Fail fast when Postgres is down so callers can answer 503 instead of hanging.
    connectionTimeoutMillis: 5_000,
  });
  return new PrismaClient({ adapter });
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
