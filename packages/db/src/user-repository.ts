import type { Database } from "./client";
import type { User } from "./generated/prisma/client";

export type UserRecord = User;

/** The fixed id of the operator's account, which owns tasks submitted with ADMIN_API_KEY. */
export const ADMIN_USER_ID = "00000000-0000-4000-8000-000000000001";

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

  async create(name: string): Promise<UserRecord> {
    return this.db.user.create({ data: { name } });
  }

  async findById(id: string): Promise<UserRecord | null> {
    return this.db.user.findUnique({ where: { id } });
  }
}
