import { isIP } from "node:net";
import type { Request } from "express";
import { z } from "zod";

/** What Express's `trust proxy` is set to: nothing, a hop count, or the proxies' addresses and ranges. */
type ProxyTrust = false | number | string[];

/** proxy-addr's names for the loopback, link-local and unique-local (private) ranges, IPv4 and IPv6. */
const RANGE_NAMES = new Set(["loopback", "linklocal", "uniquelocal"]);
const MAX_HOPS = 100;

/** Why one entry of the list is refused, or null when it is an address, a CIDR range or a range name. */
function entryProblem(entry: string): string | null {
  if (RANGE_NAMES.has(entry)) return null;
  if (entry === "true") {
    return "`true` trusts every address, so any client could name itself in X-Forwarded-For: give a hop count or the proxies' addresses";
  }
  const [address = "", prefix, extra] = entry.split("/");
  const family = isIP(address);
  if (!family || extra !== undefined) return `'${entry}' is not an IP address, a CIDR range or one of loopback, linklocal, uniquelocal`;
  if (prefix === undefined) return null;
  const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : Number.NaN;
  if (!(bits <= (family === 4 ? 32 : 128))) return `'${entry}' has no valid prefix length`;
  if (bits === 0) return `'${entry}' trusts every address, so any client could name itself in X-Forwarded-For`;
  return null;
}

/**
 * TRUST_PROXY: unset, empty or `0` trusts no proxy (the socket's peer is the client); a number trusts
 * that many hops in front of the API; otherwise a comma-separated list of addresses, CIDR ranges and
 * the names `loopback`, `linklocal`, `uniquelocal`. `true`, and ranges of every address, are refused:
 * with them the left-most X-Forwarded-For entry, which the client writes, would be its address.
 */
export const trustProxySchema = z
  .string()
  .default("")
  .transform((raw, ctx): ProxyTrust => {
    const value = raw.trim();
    if (value === "" || value === "0" || value === "false") return false;
    if (/^\d+$/.test(value)) {
      const hops = Number(value);
      if (hops <= MAX_HOPS) return hops;
      ctx.addIssue({ code: "custom", message: `at most ${MAX_HOPS} proxy hops` });
      return z.NEVER;
    }
    const entries = value.split(",").map((entry) => entry.trim());
    for (const entry of entries) {
      const problem = entryProblem(entry);
      if (problem) {
        ctx.addIssue({ code: "custom", message: problem });
        return z.NEVER;
      }
    }
    return entries;
  });

/**
 * The client's address as the trusted proxies report it (`req.ip`), but only ever a syntactically valid
 * IP address: a garbage X-Forwarded-For entry from a trusted hop falls back to the socket's peer.
 */
export function clientAddress(req: Request): string {
  const forwarded = req.ip;
  if (forwarded && isIP(forwarded)) return forwarded;
  return req.socket.remoteAddress ?? "";
}
