import { type LookupAddress, type LookupOptions, lookup as dnsLookup } from "node:dns";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { ValidationError } from "@llmq/core";
import ipaddr from "ipaddr.js";

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/**
 * Which addresses webhooks may reach: public unicast always; private, loopback, link-local and other
 * special ranges only inside the CIDRs the operator allowed (WEBHOOK_ALLOWED_CIDRS). Guards against SSRF:
 * a caller cannot make our workers call the metadata service or an internal admin port.
 */
export interface TargetPolicy {
  allowed: readonly [Address, number][];
}

/** Parses `"10.0.0.0/8, 127.0.0.1/32"`; throws on an entry that is not a CIDR. */
export function parseTargetPolicy(cidrs: string): TargetPolicy {
  const entries = cidrs
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  return {
    allowed: entries.map((entry) => {
      if (!ipaddr.isValidCIDR(entry)) throw new Error(`'${entry}' is not a CIDR range (e.g. 10.0.0.0/8 or ::1/128)`);
      return ipaddr.parseCIDR(entry);
    }),
  };
}

function normalise(address: string): Address {
  const parsed = ipaddr.parse(address);
  return parsed.kind() === "ipv6" && (parsed as ipaddr.IPv6).isIPv4MappedAddress() ? (parsed as ipaddr.IPv6).toIPv4Address() : parsed;
}

/** True when a webhook may connect to `address`. */
export function isAddressAllowed(address: string, policy: TargetPolicy): boolean {
  const parsed = normalise(address);
  if (parsed.range() === "unicast") return true;
  return policy.allowed.some(([range, bits]) => range.kind() === parsed.kind() && parsed.match(range, bits));
}

function refused(url: string, why: string): ValidationError {
  return new ValidationError(`webhook.url: ${url} ${why}`, { param: "webhook.url", code: "webhook_target_refused" });
}

function hostOf(url: URL): string {
  return url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
}

/**
 * Checks at submission that every address the URL's host resolves to is allowed; throws a
 * ValidationError otherwise. Connections are checked again when sent (DNS may change).
 */
export async function assertTargetAllowed(url: string, policy: TargetPolicy): Promise<void> {
  const host = hostOf(new URL(url));
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);
    } catch {
      throw refused(url, "does not resolve to an address");
    }
  }
  const forbidden = addresses.find((address) => !isAddressAllowed(address, policy));
  if (forbidden) throw refused(url, `resolves to ${forbidden}, a private, loopback or reserved address; the operator can allow it with WEBHOOK_ALLOWED_CIDRS`);
}

/** The refusal message for an IP-literal host the sender must not reach, or null when it may. */
export function literalTargetRefusal(url: URL, policy: TargetPolicy): string | null {
  const host = hostOf(url);
  return isIP(host) && !isAddressAllowed(host, policy) ? `${host} is not an allowed webhook target` : null;
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A `lookup` for http.request that refuses addresses outside the policy, at the moment of connecting. */
export function guardedLookup(policy: TargetPolicy) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const allowed = addresses.filter((entry) => isAddressAllowed(entry.address, policy));
      if (allowed.length === 0) {
        const refusal: NodeJS.ErrnoException = new Error(`${hostname} resolves only to addresses that are not allowed webhook targets`);
        refusal.code = "ETARGETREFUSED";
        return callback(refusal, []);
      }
      if (options.all) return callback(null, allowed);
      const first = allowed[0]!;
      callback(null, first.address, first.family);
    });
  };
}
