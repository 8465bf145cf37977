import { z } from "zod";

/** `GET /healthz`: the process is up. */
export const livenessSchema = z.object({ status: z.literal("ok") }).meta({ id: "Liveness" });

/** `GET /readyz`: Postgres and Redis answer (200), or which of them does not (503). */
export const readinessSchema = z
  .object({
    status: z.enum(["ready", "unavailable"]),
    checks: z.object({ postgres: z.enum(["ok", "down"]), redis: z.enum(["ok", "down"]) }),
  })
  .meta({ id: "Readiness" });
