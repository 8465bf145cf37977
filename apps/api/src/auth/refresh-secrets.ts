import { createHash, randomBytes } from "node:crypto";

/** A new refresh token: 32 random bytes, base64url. Only its hash is stored. */
export function newRefreshToken(): string {
  return randomBytes(32).toString("base64url");
}

/** SHA-256 of a refresh token: 256 random bits need no slow hash, and the lookup stays indexed. */
export function hashRefreshToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}
