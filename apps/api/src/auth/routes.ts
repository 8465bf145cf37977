import { AuthenticationError } from "@llmq/core";
import { loggedOutSchema, loginSchema, refreshSchema, tokenGrantSchema } from "@llmq/contract";
import type { AppDeps } from "../deps";
import { dataEnvelope } from "../flexstack/envelope";
import type { TokenGrant } from "./auth-service";
import { LoginThrottle } from "./login-throttle";
import { clientAddress } from "../http/proxy-trust";
import { DeclaredRouter, route } from "../http/route";
import { flexstackErrors, json } from "../openapi/responses";

const { 400: invalid, 401: unauthorized, 503: unavailable } = flexstackErrors;

/** `/v1/auth`: no bearer, the body carries the credential. */
export const authRoutes = {
  login: route({
    method: "post",
    path: "/v1/auth/login",
    summary: "Sign in with email and password",
    description: "Answers OAuth 2's token response (no envelope). A wrong email and a wrong password get the same 401 `invalid_credentials`.",
    security: [],
    request: { body: { content: { "application/json": loginSchema } } },
    responses: {
      200: json("An access token and a refresh token.", tokenGrantSchema),
      400: invalid,
      401: { ...unauthorized, description: "`invalid_credentials`." },
      413: { ...invalid, description: "Body larger than the limit." },
      429: {
        ...unauthorized,
        description:
          "`too_many_sign_in_attempts`: `LOGIN_RATE_LIMIT_PER_MINUTE` failures for this email from this address, or `LOGIN_RATE_LIMIT_PER_EMAIL_PER_MINUTE` from all addresses, this minute; no password was checked. See Retry-After.",
      },
      503: unavailable,
    },
  }),
  refresh: route({
    method: "post",
    path: "/v1/auth/refresh",
    summary: "Trade a refresh token for a new access token and a new refresh token",
    description: "The refresh token rotates: the one sent is used up. Sending a used one again answers `refresh_token_reused` and revokes every token of its session.",
    security: [],
    request: { body: { content: { "application/json": refreshSchema } } },
    responses: {
      200: json("A new pair.", tokenGrantSchema),
      400: invalid,
      401: { ...unauthorized, description: "`invalid_refresh_token` (unknown, expired or revoked) or `refresh_token_reused`." },
      503: unavailable,
    },
  }),
  logout: route({
    method: "post",
    path: "/v1/auth/logout",
    summary: "Sign out: revoke the session of this refresh token (idempotent)",
    security: [],
    request: { body: { content: { "application/json": refreshSchema } } },
    responses: { 200: json("Signed out.", loggedOutSchema), 400: invalid, 503: unavailable },
  }),
};

export type AuthDeps = Pick<AppDeps, "auth" | "redis" | "keys" | "logger"> & {
  env: Pick<AppDeps["env"], "LOGIN_RATE_LIMIT_PER_MINUTE" | "LOGIN_RATE_LIMIT_PER_EMAIL_PER_MINUTE">;
};

/** `/v1/auth`: sign in, refresh, sign out. No bearer needed: the body carries the credential. */
export function authRouter(deps: AuthDeps): DeclaredRouter {
  const router = new DeclaredRouter("/v1/auth");
  // Token responses must never be cached (RFC 6749 §5.1).
  router.router.use((_req, res, next) => {
    res.set({ "Cache-Control": "no-store", Pragma: "no-cache" });
    next();
  });

  const throttle = new LoginThrottle(
    deps.redis,
    deps.keys,
    { perAddress: deps.env.LOGIN_RATE_LIMIT_PER_MINUTE, perEmail: deps.env.LOGIN_RATE_LIMIT_PER_EMAIL_PER_MINUTE },
    (error) => deps.logger.warn({ err: error }, "could not give back a sign-in attempt"),
  );
  router.handle(authRoutes.login, async ({ body }, req, res) => {
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

  router.handle(authRoutes.refresh, async ({ body }, _req, res) => {
    res.json(await deps.auth.refresh(body.refresh_token));
  });

  router.handle(authRoutes.logout, async ({ body }, req, res) => {
    await deps.auth.logout(body.refresh_token);
    res.json(dataEnvelope({ logged_out: true }, req, res.locals.startedAt!));
  });

  return router;
}
