import { describe, expect, it } from 'vitest';
import {
  banNetworkFor,
  formatNetwork,
  NetworkSet,
  neverBanReason,
  parseAddress,
  parseNetwork,
} from './ip.js';

describe('parseAddress', () => {
  it('canonicalises IPv4, IPv6 and IPv4-mapped IPv6', () => {
    expect(parseAddress('203.0.113.7')).toEqual({ family: 4, address: '203.0.113.7', prefix: 32 });
    expect(parseAddress('2001:DB8:0:0::1')).toEqual({ family: 6, address: '2001:db8::1', prefix: 128 });
    expect(parseAddress('::ffff:203.0.113.7')).toEqual({ family: 4, address: '203.0.113.7', prefix: 32 });
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
