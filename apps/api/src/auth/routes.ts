import { AuthenticationError } from "@llmq/core";
import { Router } from "express";
import type { AppDeps } from "../deps";
import { dataEnvelope } from "../flexstack/envelope";
import type { TokenGrant } from "./auth-service";
import { LoginThrottle } from "./login-throttle";
import { clientAddress } from "../http/proxy-trust";
import { validate } from "../http/validate";
import { loginSchema, refreshSchema } from "@llmq/contract";

/** `/v1/auth`: sign in, refresh, sign out. No bearer needed: the body carries the credential. */
export function authRouter(deps: AppDeps): Router {
  const router = Router();
  // Token responses must never be cached (RFC 6749 §5.1).
  router.use((_req, res, next) => {
    res.set({ "Cache-Control": "no-store", Pragma: "no-cache" });
    next();
  });

  const throttle = new LoginThrottle(
    deps.redis,
    deps.keys,
    { perAddress: deps.env.LOGIN_RATE_LIMIT_PER_MINUTE, perEmail: deps.env.LOGIN_RATE_LIMIT_PER_EMAIL_PER_MINUTE },
    (error) => deps.logger.warn({ err: error }, "could not give back a sign-in attempt"),
  );
  router.post("/login", async (req, res) => {
    const body = validate(loginSchema, req.body ?? {});
    // Counted before the password is checked (429 here checks none); given back unless it failed.
    const reservation = await throttle.reserve(body.email, clientAddress(req));
    let grant: TokenGrant;
    try {
      grant = await deps.auth.login(body.email, body.password);
    } catch (error) {
      if (!(error instanceof AuthenticationError)) await throttle.release(reservation);
      throw error;
    }
    await throttle.release(reservation);
    res.json(grant);
  });

  router.post("/refresh", async (req, res) => {
    const body = validate(refreshSchema, req.body ?? {});
    res.json(await deps.auth.refresh(body.refresh_token));
  });

  router.post("/logout", async (req, res) => {
    const body = validate(refreshSchema, req.body ?? {});
    await deps.auth.logout(body.refresh_token);
    res.json(dataEnvelope({ logged_out: true }, req, res.locals.startedAt!));
  });

  return router;
}
