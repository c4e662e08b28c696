import { formatNetwork, parseNetwork } from '../domain/ip.js';

/**
 * The stored network texts a lookup of `input` should match. A single address also finds the
 * wider bans that contain it (an IPv6 address banned as its /64, a manual /24), so
 * `unban 2001:db8::5` lifts the ban on `2001:db8::/64`. A CIDR matches only itself.
 * Shared by every Store so they agree on what "the bans of this ip" means.
 */
export function lookupCandidates(input: string): string[] {
  const net = parseNetwork(input.trim());
  if (!net) return [];
  const full = net.family === 4 ? 32 : 128;
  if (net.prefix !== full) return [formatNetwork(net)];
  // neverBanReason refuses anything wider than /16 (v4) or /32 (v6), so no ban is wider than that.
  const widest = net.family === 4 ? 16 : 32;
  const candidates: string[] = [];
  for (let prefix = full; prefix >= widest; prefix--) {
    const wider = parseNetwork(`${net.address}/${prefix}`);
    if (wider) candidates.push(formatNetwork(wider));
  }
  return candidates;
}

const IPV4_ADDRESS = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/** The /24 (IPv4) or /64 (IPv6) a banned network falls in, for "top prefixes"; wider bans stay as they are. */
export function prefixKey(ip: string): string {
  // Fast path for the common case, a stored canonical IPv4 address: stats walk every banned address.
  if (IPV4_ADDRESS.test(ip)) return `${ip.slice(0, ip.lastIndexOf('.'))}.0/24`;
  const net = parseNetwork(ip);
  if (!net) return ip;
  const width = net.family === 4 ? 24 : 64;
  if (net.prefix <= width) return formatNetwork(net);
  const prefix = parseNetwork(`${net.address}/${width}`);
  return prefix ? formatNetwork(prefix) : ip;
}

/** The `until` field of an outcome: ISO time, or "permanent". */
export function untilText(expiresAt: number | null): string {
  return expiresAt === null ? 'permanent' : new Date(expiresAt).toISOString();
}
