import ipaddr from 'ipaddr.js';

export type Family = 4 | 6;

/** A canonical network: `address` is the network address in canonical text, `prefix` its length. */
export interface Network {
  readonly family: Family;
  readonly address: string;
  readonly prefix: number;
}

// Labels come from attacker-influenced log lines; nothing longer than a full IPv6 CIDR is an address.
const MAX_INPUT_LENGTH = 64;
// Only characters that can appear in an IPv4/IPv6 address or CIDR; rejects zone ids (%eth0) too.
const ADDRESS_CHARS = /^[0-9a-fA-F:./]+$/;
// Four decimal parts without leading zeros (ipaddr.js reads "010" as octal; such input takes the slow path).
const DOTTED_QUAD = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;

function toCanonical(addr: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    return (addr as ipaddr.IPv6).toIPv4Address();
  }
  return addr;
}

function familyOf(addr: ipaddr.IPv4 | ipaddr.IPv6): Family {
  return addr.kind() === 'ipv4' ? 4 : 6;
}

function networkAddress(addr: ipaddr.IPv4 | ipaddr.IPv6, prefix: number): string {
  const bytes = addr.toByteArray();
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    const index = bit >> 3;
    bytes[index] = bytes[index]! & ~(0x80 >> (bit & 7));
  }
  return ipaddr.fromByteArray(bytes).toString();
}

/**
 * Parses a single address (no prefix) strictly: dotted-quad IPv4 with four decimal parts, or IPv6.
 * IPv4-mapped IPv6 (`::ffff:1.2.3.4`) becomes the IPv4 address, so one attacker has one identity.
 */
export function parseAddress(input: string): Network | undefined {
  // The common case, a dotted quad without leading zeros, is already canonical: no need for ipaddr.js,
  // which this function would otherwise run three times per alert.
  const quad = DOTTED_QUAD.exec(input);
  if (quad) {
    for (let part = 1; part <= 4; part++) if (Number(quad[part]) > 255) return undefined;
    return { family: 4, address: input, prefix: 32 };
  }
  if (input.length === 0 || input.length > MAX_INPUT_LENGTH || !ADDRESS_CHARS.test(input)) return undefined;
  if (input.includes('/')) return undefined;
  // ipaddr.js also accepts "1", "0x7f.1" and other legacy IPv4 forms; an ip label must be dotted-quad.
  if (!input.includes(':') && !ipaddr.IPv4.isValidFourPartDecimal(input)) return undefined;
  if (!ipaddr.isValid(input)) return undefined;
  const addr = toCanonical(ipaddr.parse(input));
  const family = familyOf(addr);
  return { family, address: addr.toString(), prefix: family === 4 ? 32 : 128 };
}

/**
 * Parses an address or CIDR (`10.0.0.0/8`, `2001:db8::/32`) into its canonical network.
 * Host bits are cleared, so `10.1.2.3/8` becomes `10.0.0.0/8`.
 */
export function parseNetwork(input: string): Network | undefined {
  const slash = input.indexOf('/');
  if (slash === -1) return parseAddress(input);
  const base = parseAddress(input.slice(0, slash));
  const prefixText = input.slice(slash + 1);
  if (!base || !/^\d{1,3}$/.test(prefixText)) return undefined;
  let prefix = Number(prefixText);
  const mapped = input.slice(0, slash).includes(':') && base.family === 4;
  if (mapped) prefix -= 96;
  const max = base.family === 4 ? 32 : 128;
  if (prefix < 0 || prefix > max) return undefined;
  return { family: base.family, address: networkAddress(ipaddr.parse(base.address), prefix), prefix };
}

/** Text form used in firewall commands and the store: `1.2.3.4`, `2001:db8::/64`. */
export function formatNetwork(net: Network): string {
  const full = net.family === 4 ? 32 : 128;
  return net.prefix === full ? net.address : `${net.address}/${net.prefix}`;
}

/** Widens an IPv6 address to its configured prefix (e.g. /64) — attackers rotate inside their /64. */
export function banNetworkFor(addr: Network, ipv6Prefix: number): Network {
  if (addr.family === 4 || ipv6Prefix >= addr.prefix) return addr;
  return { family: 6, address: networkAddress(ipaddr.parse(addr.address), ipv6Prefix), prefix: ipv6Prefix };
}

export function contains(outer: Network, inner: Network): boolean {
  if (outer.family !== inner.family || outer.prefix > inner.prefix) return false;
  const innerAddr = ipaddr.parse(inner.address);
  return innerAddr.match(ipaddr.parse(outer.address), outer.prefix);
}

/** True when the first `bits` bits of two equally long byte arrays are equal. */
function samePrefix(a: readonly number[], b: readonly number[], bits: number): boolean {
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[whole]! & mask) === (b[whole]! & mask);
}

/** Matches any of a list of networks; build once, test many. */
export class NetworkSet {
  private readonly networks: Network[];
  // Each network's address as bytes, parsed once: covers() runs for every alert, against every
  // interface address of the machine.
  private readonly bytes: number[][];

  constructor(networks: Iterable<Network>) {
    this.networks = [...networks];
    this.bytes = this.networks.map((net) => ipaddr.parse(net.address).toByteArray());
  }

  static parse(entries: readonly string[]): NetworkSet {
    return new NetworkSet(
      entries.map((entry) => {
        const net = parseNetwork(entry);
        if (!net) throw new Error(`"${entry}" is not an IP address or CIDR`);
        return net;
      }),
    );
  }

  /** True when `net` lies inside one of the set's networks, or overlaps one (a ban must not cover them). */
  covers(net: Network): Network | undefined {
    if (this.networks.length === 0) return undefined;
    const bytes = ipaddr.parse(net.address).toByteArray();
    // Two networks of one family overlap exactly when one contains the other, that is when they
    // agree on the shorter prefix.
    for (let i = 0; i < this.networks.length; i++) {
      const entry = this.networks[i]!;
      if (
        entry.family === net.family &&
        samePrefix(this.bytes[i]!, bytes, Math.min(entry.prefix, net.prefix))
      )
        return entry;
    }
    return undefined;
  }

  get size(): number {
    return this.networks.length;
  }
}

const NEVER_BAN_RANGES: ReadonlySet<string> = new Set([
  'unspecified',
  'loopback',
  'multicast',
  'linkLocal',
  'broadcast',
]);

/**
 * Addresses no firewall should ever drop: loopback, unspecified, multicast, link-local, broadcast.
 * Returns the range name so the refusal can say why.
 */
export function neverBanReason(net: Network): string | undefined {
  const addr = ipaddr.parse(net.address);
  const range = addr.range();
  if (NEVER_BAN_RANGES.has(range)) return range;
  // A short prefix would drop a large part of the internet, including the operator's own networks.
  const minPrefix = net.family === 4 ? 16 : 32;
  if (net.prefix < minPrefix) return `prefix /${net.prefix} is wider than /${minPrefix}`;
  return undefined;
}
