import { createHash, randomBytes } from "node:crypto";
import { sql } from "kysely";
import { type Database, poolOf } from "./client";
import type { ApiKey, User } from "./generated/prisma/client";
import { kysely, prepare } from "./kysely";
import { type KeyLimitTotals, type LimitsRecord, keyLimitTotalsSql } from "./limit-totals";

export type ApiKeyRecord = ApiKey;

/** A key's own limits, null where the deployment's default applies. */
export type KeyLimitsRecord = LimitsRecord;

/** A live key as authentication sees it: the key, its user, and the limits of all the user's live keys added up. */
export type ActiveApiKey = ApiKeyRecord & { user: User; userKeyTotals: KeyLimitTotals };

/**
 * The key by hash, its user and the user's key totals: one statement on every request made with a key
 * (Kysely over the generated table types, see kysely.ts). The user's columns come back flat (`u_...`)
 * and are put together below.
 */
const activeKey = prepare("llmq_active_api_key", (p: { keyHash: string }) =>
  kysely
    .selectFrom("api_keys as k")
    .innerJoin("users as u", "u.id", "k.user_id")
    .select([
      "k.id",
      "k.user_id as userId",
      "k.name",
      "k.key_hash as keyHash",
      "k.prefix",
      "k.created_at as createdAt",
      "k.last_used_at as lastUsedAt",
      "k.revoked_at as revokedAt",
      "k.webhook_secret as webhookSecret",
      "k.rate_limit_per_minute as rateLimitPerMinute",
      "k.max_concurrent_tasks as maxConcurrentTasks",
      "k.tokens_per_day as tokensPerDay",
      "k.max_open_streams as maxOpenStreams",
      "k.fair_share_weight as fairShareWeight",
      "k.webhook_private_targets as webhookPrivateTargets",
      "u.name as u_name",
      "u.email as u_email",
      "u.is_admin as u_isAdmin",
      "u.password_hash as u_passwordHash",
      "u.webhook_secret as u_webhookSecret",
      "u.created_at as u_createdAt",
      "u.rate_limit_per_minute as u_rateLimitPerMinute",
      "u.max_concurrent_tasks as u_maxConcurrentTasks",
      "u.tokens_per_day as u_tokensPerDay",
      "u.max_open_streams as u_maxOpenStreams",
      "u.fair_share_weight as u_fairShareWeight",
      sql<KeyLimitTotals>`${sql.raw(keyLimitTotalsSql("k.user_id"))}`.as("userKeyTotals"),
    ])
    .where("k.key_hash", "=", p.keyHash)
    .where("k.revoked_at", "is", null),
);

const KEY_PREFIX = "llmq_";
/** How stale `last_used_at` may get: we write it at most this often per key, not on every request. */
const LAST_USED_RESOLUTION_MS = 60_000;

/** SHA-256 of a key: keys are 32 random bytes, so a fast hash is enough and lookups stay indexed. */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** A new secret key: `llmq_` + 32 random bytes in base64url. */
export function generateApiKey(): string {
  return KEY_PREFIX + randomBytes(32).toString("base64url");
}

/** The part of a key that is safe to show: enough to recognise it, useless to use it. */
export function keyPrefix(key: string): string {
  return key.slice(0, KEY_PREFIX.length + 6);
}

/** API keys: only hashes are stored; the secret is returned once, at creation. */
export class ApiKeyRepository {
  constructor(private readonly db: Database) {}

  /** Creates a key for `userId`; the returned `secret` is never stored or shown again. */
  async create(userId: string, name: string, settings: Partial<KeyLimitsRecord & Pick<ApiKey, "webhookPrivateTargets">> = {}): Promise<{ key: ApiKeyRecord; secret: string }> {
    const secret = generateApiKey();
    const key = await this.db.apiKey.create({
      data: { userId, name, keyHash: hashApiKey(secret), prefix: keyPrefix(secret), ...settings },
    });
    return { key, secret };
  }

  /** Changes a key's own limits (null: back to the default); takes effect on its next request. Null if there is no such key. */
  async setLimits(id: string, limits: Partial<KeyLimitsRecord>): Promise<ApiKeyRecord | null> {
    const { count } = await this.db.apiKey.updateMany({ where: { id }, data: limits });
    return count === 1 ? this.db.apiKey.findUnique({ where: { id } }) : null;
  }

  /** Grants or withdraws the key's access to the operator's private webhook ranges. Null if there is no such key. */
  async setWebhookPrivateTargets(id: string, allowed: boolean): Promise<ApiKeyRecord | null> {
    const { count } = await this.db.apiKey.updateMany({ where: { id }, data: { webhookPrivateTargets: allowed } });
    return count === 1 ? this.db.apiKey.findUnique({ where: { id } }) : null;
  }

  /**
   * Whether webhooks of `owner` may target private ranges (within WEBHOOK_ALLOWED_CIDRS): a live key the
   * admin granted them, or a key of an admin account; without a key (the admin key, a session), an admin user.
   */
  async mayTargetPrivateWebhooks(owner: { keyId: string | null; userId: string }): Promise<boolean> {
    const rows = owner.keyId
      ? await this.db.$queryRaw<{ allowed: boolean }[]>`
          SELECT k.webhook_private_targets OR u.is_admin AS allowed FROM api_keys k JOIN users u ON u.id = k.user_id
           WHERE k.id = ${owner.keyId}::uuid AND k.revoked_at IS NULL`
      : await this.db.$queryRaw<{ allowed: boolean }[]>`SELECT is_admin AS allowed FROM users WHERE id = ${owner.userId}::uuid`;
    return rows[0]?.allowed === true;
  }

  /**
   * The live (unrevoked) key with this secret, its user, and the limits of the user's live keys added up
   * (for the user's limits), or null. Every request with a user's key comes here: one plain SQL
   * statement on Prisma's pool (see task-sql.ts for why).
   */
  async findActiveBySecret(secret: string): Promise<ActiveApiKey | null> {
    return this.findActiveByHash(hashApiKey(secret));
  }

  /** As findActiveBySecret, by the secret's hash (hashApiKey), for callers that keyed a cache by it. */
  async findActiveByHash(keyHash: string): Promise<ActiveApiKey | null> {
    const [row] = await activeKey.rows(poolOf(this.db), { keyHash });
    if (!row) return null;
    const {
      u_name: name,
      u_email: email,
      u_isAdmin: isAdmin,
      u_passwordHash: passwordHash,
      u_webhookSecret: webhookSecret,
      u_createdAt: createdAt,
      u_rateLimitPerMinute: rateLimitPerMinute,
      u_maxConcurrentTasks: maxConcurrentTasks,
      u_tokensPerDay: tokensPerDay,
      u_maxOpenStreams: maxOpenStreams,
      u_fairShareWeight: fairShareWeight,
      userKeyTotals,
      ...key
    } = row;
    const user: User = { id: key.userId, name, email, isAdmin, passwordHash, webhookSecret, createdAt, rateLimitPerMinute, maxConcurrentTasks, tokensPerDay, maxOpenStreams, fairShareWeight };
    return { ...key, user, userKeyTotals };
  }

  /**
   * Records use, at most once per resolution window per key. The record is marked at once, so a record
   * shared by many requests (a cached key) writes once per window, not once per request.
   */
  async touch(key: ApiKeyRecord, now = new Date()): Promise<void> {
    if (key.lastUsedAt && now.getTime() - key.lastUsedAt.getTime() < LAST_USED_RESOLUTION_MS) return;
    key.lastUsedAt = now;
    await this.db.apiKey.update({ where: { id: key.id }, data: { lastUsedAt: now } });
  }

  async list(): Promise<(ApiKeyRecord & { user: Pick<User, "id" | "name"> })[]> {
    return this.db.apiKey.findMany({ orderBy: { createdAt: "desc" }, include: { user: { select: { id: true, name: true } } } });
  }

  /** Revokes a key; it stops working on the next request. Returns false if there is no such key. */
  async revoke(id: string): Promise<boolean> {
    const { count } = await this.db.apiKey.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: new Date() } });
    if (count === 1) return true;
    return (await this.db.apiKey.count({ where: { id } })) === 1;
  }
}
