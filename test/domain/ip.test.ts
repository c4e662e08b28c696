import { describe, expect, it } from 'vitest';
import {
  banNetworkFor,
  contains,
  formatNetwork,
  NetworkSet,
  neverBanReason,
  parseAddress,
  parseNetwork,
} from '../../src/domain/ip.js';

describe('parseAddress', () => {
  it('canonicalises IPv4, IPv6 and IPv4-mapped IPv6', () => {
    expect(parseAddress('203.0.113.7')).toEqual({ family: 4, address: '203.0.113.7', prefix: 32 });
    expect(parseAddress('2001:DB8:0:0::1')).toEqual({ family: 6, address: '2001:db8::1', prefix: 128 });
    expect(parseAddress('::ffff:203.0.113.7')).toEqual({ family: 4, address: '203.0.113.7', prefix: 32 });
    expect(parseAddress('0.0.0.0')).toEqual({ family: 4, address: '0.0.0.0', prefix: 32 });
    expect(parseAddress('255.255.255.255')).toEqual({ family: 4, address: '255.255.255.255', prefix: 32 });
  });

  it.each([
    '1.2.3.4; reboot',
    '$(id)',
    '1.2.3.4\nflush ruleset',
    '1.2.3.4/0',
    '1.2.3',
    '0x7f.1',
    '127.1',
    '01.02.03.04x',
    '010.1.1.1',
    '256.0.0.1',
    '1.2.3.999',
    'fe80::1%eth0',
    '',
    `1.2.3.4${' '.repeat(100)}`,
    'a'.repeat(300),
  ])('rejects %j', (input) => {
    expect(parseAddress(input)).toBeUndefined();
  });
});

describe('parseNetwork', () => {
  it('clears host bits and keeps the prefix', () => {
    expect(parseNetwork('10.1.2.3/8')).toEqual({ family: 4, address: '10.0.0.0', prefix: 8 });
    expect(parseNetwork('2001:db8:1:2::5/64')).toEqual({ family: 6, address: '2001:db8:1:2::', prefix: 64 });
  });

  it('maps IPv4-mapped CIDRs to IPv4 prefixes', () => {
    expect(parseNetwork('::ffff:10.0.0.0/104')).toEqual({ family: 4, address: '10.0.0.0', prefix: 8 });
  });

  it('rejects out-of-range prefixes', () => {
    expect(parseNetwork('10.0.0.0/33')).toBeUndefined();
    expect(parseNetwork('2001:db8::/129')).toBeUndefined();
    expect(parseNetwork('10.0.0.0/')).toBeUndefined();
    expect(parseNetwork('10.0.0.0/8/8')).toBeUndefined();
  });
});

describe('banNetworkFor', () => {
  it('widens IPv6 to the configured prefix and leaves IPv4 alone', () => {
    const v6 = parseAddress('2001:db8:aa:bb:1:2:3:4')!;
    expect(formatNetwork(banNetworkFor(v6, 64))).toBe('2001:db8:aa:bb::/64');
    expect(formatNetwork(banNetworkFor(v6, 128))).toBe('2001:db8:aa:bb:1:2:3:4');
    expect(formatNetwork(banNetworkFor(parseAddress('203.0.113.7')!, 64))).toBe('203.0.113.7');
  });
});

describe('NetworkSet', () => {
  const set = NetworkSet.parse(['127.0.0.0/8', '::1', '192.0.2.0/24', '2001:db8:ffff::/48']);

  it('matches addresses inside its networks, across notations', () => {
    expect(set.covers(parseAddress('127.0.0.53')!)).toBeDefined();
    expect(set.covers(parseAddress('::ffff:192.0.2.9')!)).toBeDefined();
    expect(set.covers(parseAddress('2001:db8:ffff:1::9')!)).toBeDefined();
    expect(set.covers(parseAddress('198.51.100.1')!)).toBeUndefined();
  });

  it('refuses a ban that would contain an allowlisted network', () => {
    expect(set.covers(parseNetwork('192.0.0.0/16')!)).toBeDefined();
  });

  it('throws on entries that are not networks', () => {
    expect(() => NetworkSet.parse(['10.0.0.0/8', 'example.com'])).toThrow(/example.com/);
  });

  it('agrees with contains() in both directions at every prefix boundary', () => {
    // Neighbouring networks that differ in one bit around byte boundaries, both families.
    const texts: string[] = [];
    for (const prefix of [7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32]) {
      texts.push(
        `10.1.128.0/${prefix}`,
        `10.1.129.1/${prefix}`,
        `10.0.0.0/${prefix}`,
        `11.1.128.0/${prefix}`,
      );
    }
    for (const prefix of [31, 32, 33, 63, 64, 65, 127, 128]) {
      texts.push(`2001:db8:8000::/${prefix}`, `2001:db8:8000:0:8000::1/${prefix}`, `2001:db9::/${prefix}`);
    }
    const networks = texts.map((text) => parseNetwork(text)!);
    let overlaps = 0;
    for (const a of networks) {
      const single = new NetworkSet([a]);
      for (const b of networks) {
        const expected = contains(a, b) || contains(b, a);
        if (expected) overlaps++;
        expect(single.covers(b) !== undefined, `${formatNetwork(a)} vs ${formatNetwork(b)}`).toBe(expected);
      }
    }
    // Both answers occur, so the comparison means something.
    expect(overlaps).toBeGreaterThan(networks.length);
    expect(overlaps).toBeLessThan(networks.length * networks.length);
  });
});

describe('neverBanReason', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['::1', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['169.254.1.1', 'linkLocal'],
    ['fe80::1', 'linkLocal'],
    ['255.255.255.255', 'broadcast'],
  ])('never bans %s (%s)', (input, reason) => {
    expect(neverBanReason(parseAddress(input)!)).toBe(reason);
  });

  it('refuses overly wide networks', () => {
    expect(neverBanReason(parseNetwork('10.0.0.0/8')!)).toMatch(/wider/);
    expect(neverBanReason(parseNetwork('2001::/16')!)).toMatch(/wider/);
  });

  it('allows ordinary public addresses and prefixes', () => {
    expect(neverBanReason(parseAddress('203.0.113.7')!)).toBeUndefined();
    expect(neverBanReason(parseNetwork('2001:db8:1:2::/64')!)).toBeUndefined();
  });
});
