import { AuthenticationError, PermissionError } from "@llmq/core";
import { ADMIN_USER_ID, type ApiKeyRepository, hashApiKey } from "@llmq/db";
import type { ApiKeyCache } from "../auth/api-key-cache";
import type { Logger } from "@llmq/core";
import type { RequestHandler } from "express";
import { looksLikeJwt } from "../auth/access-tokens";
import type { AuthService } from "../auth/auth-service";
import { type Limits, keyLimits, userLimits } from "../services/limits";
import { principalOf } from "./principal";
import { secretHashMatcher } from "./secret-match";

/**
 * Resolves `Authorization: Bearer <credential>` to a principal: the admin key, an access token from
 * `POST /v1/auth/login` (a JWT), or a live API key from the database, with the limits of the key and of
 * its user (read in the same statement as the key, or from the cache of resolved keys, which every
 * credential change empties in every process: auth/api-key-cache.ts).
 */
export function authenticate(deps: { apiKeys: ApiKeyRepository; apiKeyCache: ApiKeyCache; auth: AuthService; adminApiKey: string; limitDefaults: Limits; logger: Logger }): RequestHandler {
  const isAdminKey = secretHashMatcher([deps.adminApiKey]);
  return async (req, res, next) => {
    const header = req.get("authorization") ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) throw new AuthenticationError("Missing API key: send it (or an access token) as 'Authorization: Bearer <key>'.");
    const secret = match[1];
    // One hash of the bearer, for the admin key's test and the API key's lookup.
    const secretHash = hashApiKey(secret);
    if (isAdminKey(secretHash)) {
      res.locals.principal = { userId: ADMIN_USER_ID, isAdmin: true, keyId: null };
      return next();
    }
    if (looksLikeJwt(secret)) {
      res.locals.principal = await deps.auth.principalOf(secret);
      return next();
    }
    const key = await deps.apiKeyCache.resolveHash(secretHash);
    if (!key) throw new AuthenticationError("Invalid API key.");
    res.locals.principal = {
      userId: key.userId,
      isAdmin: key.user.isAdmin,
      keyId: key.id,
      quota: { key: keyLimits(key, deps.limitDefaults, key.user), user: userLimits(key.user, key.userKeyTotals, deps.limitDefaults) },
    };
    deps.apiKeys.touch(key).catch((error: unknown) => deps.logger.warn({ err: error }, "could not record key use"));
    next();
  };
}

/** Lets only the admin through. */
export const requireAdmin: RequestHandler = (req, _res, next) => {
  if (!principalOf(req).isAdmin) throw new PermissionError("This route is reserved to the admin.");
  next();
};
