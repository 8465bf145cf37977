import type { Viewer } from "@llmq/db";
import type { Request } from "express";

/** The authenticated caller of a request. */
export interface Principal extends Viewer {
  keyId: string | null;
}

declare module "express-serve-static-core" {
  interface Locals {
    principal?: Principal;
    dialect?: Dialect;
    /** When the request arrived: Flexstack envelopes report start_time and total_time_by_second. */
    startedAt?: Date;
  }
}

/** Which API a route belongs to: decides how its errors are shaped. */
export type Dialect = "flexstack" | "openai";

/** The caller of an authenticated route (the auth middleware ran before it). */
export function principalOf(req: Request): Principal {
  const principal = req.res?.locals.principal;
  if (!principal) throw new Error("route reached without authentication");
  return principal;
}
