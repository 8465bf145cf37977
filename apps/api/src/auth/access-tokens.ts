import { AuthenticationError } from "@llmq/core";
import { SignJWT, errors, jwtVerify } from "jose";

const ALGORITHM = "HS256";
const ISSUER = "llmq";

/** A JWT's three base64url parts: how a bearer access token is told from an API key. */
const JWT_SHAPE = /^eyJ[\w-]*\.[\w-]+\.[\w-]*$/;

export function looksLikeJwt(bearer: string): boolean {
  return JWT_SHAPE.test(bearer);
}

/** Short-lived HS256 access tokens: `sub` is the user id; nothing else is trusted from them. */
export class AccessTokens {
  private readonly key: Uint8Array;

  constructor(
    secret: string,
    readonly ttlSeconds: number,
  ) {
    this.key = new TextEncoder().encode(secret);
  }

  async issue(userId: string): Promise<string> {
    return new SignJWT({})
      .setProtectedHeader({ alg: ALGORITHM, typ: "JWT" })
      .setSubject(userId)
      .setIssuer(ISSUER)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .sign(this.key);
  }

  /** The user id and expiry of a valid token; 401 `access_token_expired` or `invalid_access_token` otherwise. */
  async verify(token: string): Promise<{ userId: string; expiresAt: Date }> {
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: [ALGORITHM], issuer: ISSUER, requiredClaims: ["sub", "exp"] });
      if (!payload.sub) throw new errors.JWTClaimValidationFailed("missing sub", payload, "sub");
      return { userId: payload.sub, expiresAt: new Date(payload.exp! * 1000) };
    } catch (error) {
      if (error instanceof errors.JWTExpired) {
        throw new AuthenticationError("The access token has expired: refresh it with POST /v1/auth/refresh.", { code: "access_token_expired" });
      }
      throw new AuthenticationError("Invalid access token.", { code: "invalid_access_token" });
    }
  }
}
