import type { Viewer } from "@llmq/db";
import type { Request } from "express";
import type { Quota } from "../services/limits";

/** The authenticated caller of a request. */
export interface Principal extends Viewer {
  keyId: string | null;
  /** The limits of its key (if any) and of its user; absent for the admin key, which no quota limits. */
  quota?: Quota;
  /** When an access token authenticated the caller: its expiry, at which open streams end. */
  accessTokenExpiresAt?: Date;
}

declare module "express-serve-static-core" {
  interface Locals {
    principal?: Principal;
    dialect?: Dialect;
    /** When the request arrived: Flexstack envelopes report start_time and total_time_by_second. */
    startedAt?: Date;
    /** The test suite's check of each Server-Sent Event against the route's declared events (http/response-check.ts). */
    checkSseEvent?: (event: string | undefined, data: unknown) => void;
    /** Milliseconds a completion waited on its task (queue and upstream): left out of x-llmq-overhead-ms and of "slow request". */
    upstreamMs?: number;
    /** performance.now() when the request started waiting for its task (markWaiting). */
    waitingSince?: number;
    /** performance.now() when the request arrived (the request observer sets it). */
    arrivedAt?: number;
    /** What x-llmq-overhead-ms said, for the llmq_overhead_seconds histogram. */
    overheadMs?: number;
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
