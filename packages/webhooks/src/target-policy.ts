import { type LookupAddress, type LookupOptions, lookup as dnsLookup } from "node:dns";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { ValidationError } from "@llmq/core";
import ipaddr from "ipaddr.js";

type Address = ipaddr.IPv4 | ipaddr.IPv6;
/** An inclusive range of TCP ports, `[first, last]`. */
export type PortRange = readonly [number, number];

/**
 * Which targets webhooks may reach. Public unicast addresses always; private, loopback, link-local and
 * other special ranges only inside the CIDRs the operator allowed (WEBHOOK_ALLOWED_CIDRS), and then
 * only for callers granted private targets (see TargetAccess); and only on the allowed ports
 * (WEBHOOK_ALLOWED_PORTS). Guards against SSRF: a caller cannot make our workers call the metadata
 * service or an internal admin port.
 */
export interface TargetPolicy {
  allowed: readonly [Address, number][];
  ports: readonly PortRange[];
}

/** What one caller may reach beyond public addresses: the admin's grant (per key) of the operator's private ranges. */
export interface TargetAccess {
  privateTargets: boolean;
}

/** Ports webhooks may use unless the operator says otherwise: HTTP, HTTPS and no other privileged port. */
export const DEFAULT_WEBHOOK_PORTS = "80,443,1024-65535";

/** Parses `"80,443,1024-65535"`; throws on an entry that is not a port or an ascending range of ports. */
export function parseAllowedPorts(ports: string): PortRange[] {
  return ports.split(",").map((raw) => {
    const entry = raw.trim();
    const match = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(entry);
    const first = Number(match?.[1]);
    const last = match?.[2] === undefined ? first : Number(match[2]);
    if (!match || first < 1 || last > 65_535 || last < first) throw new Error(`'${entry}' is not a port (1-65535) or a range of ports such as 1024-65535`);
    return [first, last] as const;
  });
}

/** Parses `"10.0.0.0/8, 127.0.0.1/32"` (and the allowed ports); throws on an entry that is not a CIDR. */
export function parseTargetPolicy(cidrs: string, ports: string = DEFAULT_WEBHOOK_PORTS): TargetPolicy {
  const entries = cidrs
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  return {
    allowed: entries.map((entry) => {
      if (!ipaddr.isValidCIDR(entry)) throw new Error(`'${entry}' is not a CIDR range (e.g. 10.0.0.0/8 or ::1/128)`);
      return ipaddr.parseCIDR(entry);
    }),
    ports: parseAllowedPorts(ports),
  };
}

/** IPv6 unicast that is routed on the internet: 2000::/3. Everything else (including ::/96) is special. */
const GLOBAL_UNICAST = ipaddr.parseCIDR("2000::/3");
/** IPv4-compatible IPv6 (RFC 4291, deprecated): `::a.b.c.d`, which some stacks still route to the IPv4 address. */
const IPV4_COMPATIBLE = ipaddr.parseCIDR("::/96");

/**
 * The address as judged: IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible (`::a.b.c.d`) IPv6 as the
 * IPv4 address they carry. Dotted IPv6 forms go through the WHATWG URL parser first: ipaddr.js reads
 * `::8.8.8.8` as IPv4-mapped.
 */
function normalise(address: string): { address: Address; compatible: boolean } {
  const canonical = isIP(address) === 6 && address.includes(".") ? new URL(`http://[${address}]/`).hostname.slice(1, -1) : address;
  const parsed = ipaddr.parse(canonical);
  if (parsed.kind() === "ipv4") return { address: parsed, compatible: false };
  const v6 = parsed as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) return { address: v6.toIPv4Address(), compatible: false };
  // `::` and `::1` are in ::/96 too, but they are IPv6's own unspecified and loopback addresses.
  if (v6.match(IPV4_COMPATIBLE) && !["unspecified", "loopback"].includes(v6.range())) {
    return { address: ipaddr.fromByteArray(v6.toByteArray().slice(12)), compatible: true };
  }
  return { address: v6, compatible: false };
}

/** `public`: any caller may reach it; `private`: within the operator's ranges, for granted callers; `refused`: nobody. */
export type AddressClass = "public" | "private" | "refused";

/** How the policy treats `address`, before any caller's grant. */
export function classifyAddress(address: string, policy: TargetPolicy): AddressClass {
  const { address: parsed, compatible } = normalise(address);
  const isPublic = parsed.range() === "unicast" && (parsed.kind() === "ipv4" || parsed.match(GLOBAL_UNICAST));
  // An IPv4-compatible address is never public, whatever it carries: the form is deprecated and its routing undefined.
  if (isPublic && !compatible) return "public";
  return policy.allowed.some(([range, bits]) => range.kind() === parsed.kind() && parsed.match(range, bits)) ? "private" : "refused";
}

/** True when a caller with `access` may connect to `address`. */
export function isAddressAllowed(address: string, policy: TargetPolicy, access: TargetAccess): boolean {
  const judged = classifyAddress(address, policy);
  return judged === "public" || (judged === "private" && access.privateTargets);
}

/** The TCP port a URL connects to. */
export function portOf(url: URL): number {
  return url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
}

function isPortAllowed(port: number, policy: TargetPolicy): boolean {
  return policy.ports.some(([first, last]) => port >= first && port <= last);
}

function refused(url: string, why: string): ValidationError {
  return new ValidationError(`webhook.url: ${url} ${why}`, { param: "webhook.url", code: "webhook_target_refused" });
}

function hostOf(url: URL): string {
  return url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
}

const PRIVATE_REFUSAL =
  "resolves to a private, loopback or reserved address. Only keys the admin granted private targets (PATCH /v1/admin/keys/{id} with webhooks.allow_private_targets) may use them, and only within the ranges the operator allows with WEBHOOK_ALLOWED_CIDRS";

/**
 * Checks at submission that the URL's port is allowed and that every address its host resolves to is
 * allowed, asking `mayReachPrivate` (the caller's grant, looked up only when needed) for private ones;
 * throws a ValidationError otherwise. The message never names the address a name resolved to.
 * Connections are checked again when sent (DNS, grants and configuration may change).
 */
export async function assertTargetAllowed(url: string, policy: TargetPolicy, mayReachPrivate: () => Promise<boolean>): Promise<void> {
  const parsed = new URL(url);
  if (!isPortAllowed(portOf(parsed), policy)) throw refused(url, `uses port ${portOf(parsed)}, which webhooks may not use (WEBHOOK_ALLOWED_PORTS)`);
  const host = hostOf(parsed);
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);
    } catch {
      throw refused(url, "does not resolve to an address");
    }
  }
  const classes = addresses.map((address) => classifyAddress(address, policy));
  if (classes.every((judged) => judged === "public")) return;
  if (classes.includes("refused") || !(await mayReachPrivate())) throw refused(url, PRIVATE_REFUSAL);
}

/**
 * For the sender, before connecting: the refusal message for a port outside the policy or an IP-literal
 * host the caller must not reach (null when it may), and whether a literal host is a private target.
 */
export function literalTargetCheck(url: URL, policy: TargetPolicy, access: TargetAccess): { refusal: string | null; privateTarget: boolean } {
  if (!isPortAllowed(portOf(url), policy)) return { refusal: `port ${portOf(url)} is not an allowed webhook port (WEBHOOK_ALLOWED_PORTS)`, privateTarget: false };
  const host = hostOf(url);
  if (!isIP(host)) return { refusal: null, privateTarget: false };
  const judged = classifyAddress(host, policy);
  if (!isAddressAllowed(host, policy, access)) return { refusal: "the target is not an allowed webhook target (private, loopback or reserved)", privateTarget: judged !== "public" };
  return { refusal: null, privateTarget: judged === "private" };
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http.request that refuses addresses outside the policy, at the moment of connecting.
 * `onPrivate` is called when the addresses handed to the connection include a private one.
 */
export function guardedLookup(policy: TargetPolicy, access: TargetAccess, onPrivate: () => void) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const judged = addresses.map((entry) => ({ entry, judged: classifyAddress(entry.address, policy) }));
      // Any private answer makes the target private: its answers and errors are then kept from the caller.
      if (judged.some(({ judged }) => judged !== "public")) onPrivate();
      const allowed = judged.filter(({ entry }) => isAddressAllowed(entry.address, policy, access)).map(({ entry }) => entry);
      if (allowed.length === 0) {
        const refusal: NodeJS.ErrnoException = new Error("the target resolves only to addresses that are not allowed webhook targets");
        refusal.code = "ETARGETREFUSED";
        return callback(refusal, []);
      }
      if (options.all) return callback(null, allowed);
      const first = allowed[0]!;
      callback(null, first.address, first.family);
    });
  };
}
