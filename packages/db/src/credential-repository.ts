import { type Database, poolOf } from "./client";

/** What open streams' credentials are worth now: keys still live, users still there and their admin flag. */
export interface CredentialStates {
  liveKeyIds: Set<string>;
  /** Users that still exist, by id; absent means deleted. */
  users: Map<string, { isAdmin: boolean }>;
}

/** Re-checks many credentials at once, for API processes holding open streams. */
export class CredentialRepository {
  constructor(private readonly db: Database) {}

  /** Which of `keyIds` are unrevoked and which of `userIds` exist (with `is_admin`): ONE query, indexed by primary keys. */
  async states(keyIds: readonly string[], userIds: readonly string[]): Promise<CredentialStates> {
    const states: CredentialStates = { liveKeyIds: new Set(), users: new Map() };
    if (keyIds.length === 0 && userIds.length === 0) return states;
    const { rows } = await poolOf(this.db).query<{ kind: "key" | "user"; id: string; is_admin: boolean | null }>({
      name: "llmq_credential_states",
      text: `SELECT 'key' AS kind, id::text AS id, NULL::boolean AS is_admin FROM api_keys WHERE id = ANY($1::uuid[]) AND revoked_at IS NULL
             UNION ALL
             SELECT 'user', id::text, is_admin FROM users WHERE id = ANY($2::uuid[])`,
      values: [keyIds, userIds],
    });
    for (const row of rows) {
      if (row.kind === "key") states.liveKeyIds.add(row.id);
      else states.users.set(row.id, { isAdmin: row.is_admin === true });
    }
    return states;
  }
}
