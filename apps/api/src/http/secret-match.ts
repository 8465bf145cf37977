import { timingSafeEqual } from "node:crypto";
import { hashApiKey } from "@llmq/db";

/**
 * A test of a presented secret against configured ones (the admin key, METRICS_TOKEN): their SHA-256
 * hashes are compared with `timingSafeEqual`, so the time taken depends neither on the presented
 * secret's length nor on how much of it matches. Every configured secret is compared, match or not.
 */
export function secretMatcher(secrets: readonly string[]): (presented: string) => boolean {
  const matchesHash = secretHashMatcher(secrets);
  return (presented) => matchesHash(hashApiKey(presented));
}

/** As secretMatcher, given the presented secret's hash (hashApiKey): auth hashes a bearer once, for this test and the key lookup. */
export function secretHashMatcher(secrets: readonly string[]): (presentedHash: string) => boolean {
  const hashes = secrets.map((secret) => Buffer.from(hashApiKey(secret), "hex"));
  return (presentedHash) => {
    const hash = Buffer.from(presentedHash, "hex");
    let matched = false;
    for (const known of hashes) if (timingSafeEqual(hash, known)) matched = true;
    return matched;
  };
}
