import { hash, verify } from "@node-rs/argon2";

// argon2id with the library's defaults (19 MiB, 2 passes: OWASP's recommended minimum); salt per hash.
// The parameters live in each PHC string, so raising them later keeps old hashes verifiable.

/** The argon2id hash (PHC string) of a password. */
export async function hashPassword(password: string): Promise<string> {
  return hash(password);
}

/** Verified against when the email is unknown, so both failures cost one argon2 run (no timing oracle). */
let decoy: Promise<string> | undefined;

/** True when `password` matches `passwordHash`; with no hash, burns the same time and answers false. */
export async function verifyPassword(passwordHash: string | null, password: string): Promise<boolean> {
  if (!passwordHash) {
    decoy ??= hash("decoy password, never matches");
    await verify(await decoy, password).catch(() => false);
    return false;
  }
  return verify(passwordHash, password).catch(() => false);
}
