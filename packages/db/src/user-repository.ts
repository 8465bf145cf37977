import type { TaskStatus } from "@llmq/core";
import { sql } from "kysely";
import { type Database, poolOf } from "./client";
import type { User } from "./generated/prisma/client";
import { kysely, prepare } from "./kysely";
import { type KeyLimitTotals, type LimitsRecord, keyLimitTotalsSql } from "./limit-totals";

export type UserRecord = User;

/** A user and the limits of its live keys added up (its limits when it sets none of its own). */
export type UserWithKeyTotals = UserRecord & { keyTotals: KeyLimitTotals };

/** A user with its key totals, named by the query (Kysely over the generated types, see kysely.ts). */
function usersWithKeyTotals() {
  return kysely
    .selectFrom("users as u")
    .select([
      "u.id",
      "u.name",
      "u.email",
      "u.is_admin as isAdmin",
      "u.password_hash as passwordHash",
      "u.webhook_secret as webhookSecret",
      "u.created_at as createdAt",
      "u.rate_limit_per_minute as rateLimitPerMinute",
      "u.max_concurrent_tasks as maxConcurrentTasks",
      "u.tokens_per_day as tokensPerDay",
      "u.max_open_streams as maxOpenStreams",
      "u.fair_share_weight as fairShareWeight",
      sql<KeyLimitTotals>`${sql.raw(keyLimitTotalsSql("u.id"))}`.as("keyTotals"),
    ]);
}

const userWithKeyTotals = prepare("llmq_user_with_key_totals", (p: { id: string }) => usersWithKeyTotals().where("u.id", "=", p.id));
const allUsersWithKeyTotals = prepare("llmq_users_with_key_totals", () => usersWithKeyTotals().orderBy("u.created_at").orderBy("u.id"));

/** The fixed id of the operator's account, which owns tasks submitted with ADMIN_API_KEY. */
export const ADMIN_USER_ID = "00000000-0000-4000-8000-000000000001";

export interface NewAccount {
  email: string;
  name: string;
  passwordHash: string;
  isAdmin: boolean;
}

/** Who a tenant of the run queue is, for an operator: the key's name and prefix, or the user's email (else name). Never a secret. */
export interface TenantName {
  /** The API key's id, or the user's id for a tenant without a key. */
  id: string;
  kind: "api_key" | "user";
  name: string;
  /** The key's prefix (`llmq_abc123`); null for a user. */
  keyPrefix: string | null;
}

/** Token counts of a set of tasks. */
export interface UsageFigures {
  tasks: number;
  promptTokens: number;
  completionTokens: number;
}

/** What one user's tasks added up to: overall, per status and per model. */
export interface UserUsage extends UsageFigures {
  byStatus: Record<TaskStatus, number>;
  byModel: (UsageFigures & { model: string })[];
}

/** Emails are compared without case: `Ann@X.org` and `ann@x.org` are one account. */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: unknown })?.code === "P2002";
}

export class UserRepository {
  constructor(private readonly db: Database) {}

  /** Creates the admin account on first start; later starts find it. */
  async ensureAdmin(): Promise<UserRecord> {
    return this.db.user.upsert({
      where: { id: ADMIN_USER_ID },
      create: { id: ADMIN_USER_ID, name: "admin", isAdmin: true },
      update: {},
    });
  }

  /** A user without a password (a tenant that only has API keys). */
  async create(name: string): Promise<UserRecord> {
    return this.db.user.create({ data: { name } });
  }

  /** A user who signs in with email and password; null when the email is taken. */
  async createAccount(account: NewAccount): Promise<UserRecord | null> {
    try {
      return await this.db.user.create({ data: { ...account, email: normaliseEmail(account.email) } });
    } catch (error) {
      if (isUniqueViolation(error)) return null;
      throw error;
    }
  }

  async findById(id: string): Promise<UserRecord | null> {
    return this.db.user.findUnique({ where: { id } });
  }

  /** The user with its live keys' limits added up, in one statement (every request with an access token comes here). */
  async findWithKeyTotals(id: string): Promise<UserWithKeyTotals | null> {
    const [row] = await userWithKeyTotals.rows(poolOf(this.db), { id });
    return row ?? null;
  }

  /** Changes a user's own limits (null: back to the sum of its keys); they apply from its next request. Null if there is no such user. */
  async setLimits(id: string, limits: Partial<LimitsRecord>): Promise<UserRecord | null> {
    const { count } = await this.db.user.updateMany({ where: { id }, data: limits });
    return count === 1 ? this.db.user.findUnique({ where: { id } }) : null;
  }

  async findByEmail(email: string): Promise<UserRecord | null> {
    return this.db.user.findUnique({ where: { email: normaliseEmail(email) } });
  }

  /**
   * Deletes a user; the schema's cascades take their keys, refresh tokens, tasks, batches, files,
   * webhook deliveries and idempotency keys with them. False when there is no such user.
   */
  async delete(id: string): Promise<boolean> {
    const { count } = await this.db.user.deleteMany({ where: { id } });
    return count === 1;
  }

  /** Makes a user an admin or not; takes effect on their next request. Null when there is no such user. */
  async setAdmin(id: string, isAdmin: boolean): Promise<UserRecord | null> {
    const { count } = await this.db.user.updateMany({ where: { id }, data: { isAdmin } });
    return count === 1 ? this.findById(id) : null;
  }

  /** Every user with its key totals, oldest first (an operator's list: a few hundred rows at most). */
  async list(): Promise<UserWithKeyTotals[]> {
    return allUsersWithKeyTotals.rows(poolOf(this.db), {});
  }

  /** Task and token totals of one user's tasks, in one grouped query (served by tasks_owner_history_idx). */
  async usage(userId: string): Promise<UserUsage> {
    const rows = await this.db.$queryRaw<{ model: string; status: TaskStatus; tasks: bigint; prompt: bigint | null; completion: bigint | null }[]>`
      SELECT model, status::text AS status, count(*) AS tasks,
             sum(prompt_tokens) AS prompt, sum(completion_tokens) AS completion
        FROM tasks WHERE owner_id = ${userId}::uuid
       GROUP BY model, status`;
    const byStatus: Record<TaskStatus, number> = { PENDING: 0, RUNNING: 0, COMPLETED: 0, FAILED: 0, CANCELLED: 0, EXPIRED: 0 };
    const byModel = new Map<string, UsageFigures & { model: string }>();
    const total: UsageFigures = { tasks: 0, promptTokens: 0, completionTokens: 0 };
    for (const row of rows) {
      const figures = { tasks: Number(row.tasks), promptTokens: Number(row.prompt ?? 0), completionTokens: Number(row.completion ?? 0) };
      byStatus[row.status] += figures.tasks;
      const model = byModel.get(row.model) ?? { model: row.model, tasks: 0, promptTokens: 0, completionTokens: 0 };
      for (const sum of [model, total]) {
        sum.tasks += figures.tasks;
        sum.promptTokens += figures.promptTokens;
        sum.completionTokens += figures.completionTokens;
      }
      byModel.set(row.model, model);
    }
    return { ...total, byStatus, byModel: [...byModel.values()].sort((a, b) => b.tasks - a.tasks || a.model.localeCompare(b.model)) };
  }

  /**
   * Names of API keys and users by id, in ONE statement whatever their number (the admin's queue view
   * resolves its top tenants with it). Ids that match nothing (a deleted key or user) are absent.
   */
  async tenantNames(keyIds: readonly string[], userIds: readonly string[]): Promise<TenantName[]> {
    if (keyIds.length === 0 && userIds.length === 0) return [];
    const rows = await this.db.$queryRaw<{ id: string; kind: "api_key" | "user"; name: string; prefix: string | null }[]>`
      SELECT k.id::text AS id, 'api_key' AS kind, k.name, k.prefix FROM api_keys k WHERE k.id = ANY(${[...keyIds]}::uuid[])
      UNION ALL
      SELECT u.id::text, 'user', coalesce(u.email, u.name), NULL FROM users u WHERE u.id = ANY(${[...userIds]}::uuid[])`;
    return rows.map((row) => ({ id: row.id, kind: row.kind, name: row.name, keyPrefix: row.prefix }));
  }
}
