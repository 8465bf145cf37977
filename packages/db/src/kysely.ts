import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, type Compilable, type InferResult, type RawBuilder, sql } from "kysely";
import type { Pool } from "pg";
import type { DB } from "./generated/kysely/database";

/**
 * The hot path's SQL (docs/architecture.md, "SQL style"): queries written with Kysely over the tables'
 * types that `prisma generate` makes from prisma/schema.prisma (the `prisma-kysely` generator), so a
 * wrong column or a row shape that does not match fails tsc. Kysely only builds and compiles here: the
 * statements run on the pg pool under Prisma (createDatabase), whose errors isDatabaseUnavailable can
 * judge, and a statement that `prepare` compiled once runs as a named (server-side prepared) statement.
 */
export const kysely = new Kysely<DB>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

/** A row of what a query (or a prepared Statement) selects or returns, as Kysely infers it. */
export type RowOf<Q> = Q extends Statement<never, infer R> ? R : Q extends Compilable<unknown> ? InferResult<Q>[number] : never;

/** Where a parameter of a prepared statement goes: replaced by its value at each run. */
class Slot {
  constructor(readonly key: string) {}
}

/** A statement compiled once; `rows` runs it with its parameters under its name. */
export interface Statement<P, R> {
  readonly name: string;
  readonly text: string;
  rows(pool: Pool, params: P): Promise<R[]>;
  /** Rows affected (for statements that return none). */
  count(pool: Pool, params: P): Promise<number>;
}

/**
 * Compiles `build`'s query once, with a slot where each parameter goes (`p.id` stands for `params.id`;
 * constants in the query stay constants), and runs it as the named statement `name`: Postgres parses
 * and plans it once per connection, and no query is built or compiled per call.
 */
export function prepare<P extends object, Q extends Compilable<unknown>>(name: string, build: (p: P) => Q): Statement<P, RowOf<Q>> {
  const slots = new Proxy({} as P, { get: (_target, key) => new Slot(String(key)) });
  const compiled = build(slots).compile();
  const parameters = compiled.parameters;
  const values = (params: P) => parameters.map((value) => (value instanceof Slot ? (params as Record<string, unknown>)[value.key] : value));
  return {
    name,
    text: compiled.sql,
    async rows(pool, params) {
      const result = await pool.query<RowOf<Q> & Record<string, unknown>>({ name, text: compiled.sql, values: values(params) });
      return result.rows;
    },
    async count(pool, params) {
      const result = await pool.query({ name, text: compiled.sql, values: values(params) });
      return result.rowCount ?? 0;
    },
  };
}

/** Runs a query built per call (its shape depends on the call: optional filters), unnamed. */
export async function run<Q extends Compilable<unknown>>(pool: Pool, query: Q): Promise<RowOf<Q>[]> {
  const compiled = query.compile();
  const result = await pool.query<RowOf<Q> & Record<string, unknown>>(compiled.sql, [...compiled.parameters]);
  return result.rows;
}

/** A constant written into the statement's text (a partial index's predicate matches only literals), typed as itself: `lit("RUNNING")`. */
export function lit<const V extends string | number | boolean | null>(value: V): RawBuilder<V> {
  return sql.lit(value);
}
