import { describe, expect, it } from 'vitest';
import { banNetwork, checkGuard, type GuardContext } from '../../src/domain/guard.js';
import { NetworkSet } from '../../src/domain/ip.js';
import type { JailSettings } from '../../src/domain/jail.js';
import { jailSettings } from '../support/jail.js';

const jail = (overrides: Partial<JailSettings> = {}): JailSettings =>
  jailSettings({ ignoreip: ['127.0.0.0/8', '::1', '192.0.2.0/24', '2001:db8:aaaa::/48'], ...overrides });

const context = (overrides: Partial<GuardContext> = {}): GuardContext => ({
  jails: {
    sshd: jail(),
    off: jail({ name: 'off', enabled: false }),
    v6: jail({ name: 'v6', ipv6prefix: 64 }),
  },
  protectedNetworks: NetworkSet.parse(['198.51.100.10', '2001:db8:1::5']),
  ...overrides,
});

describe('checkGuard', () => {
  it('allows an ordinary public address and returns its ban network', () => {
    const verdict = checkGuard('203.0.113.7', 'sshd', context());
    expect(verdict).toMatchObject({
      allowed: true,
      network: { family: 4, address: '203.0.113.7', prefix: 32 },
    });
  });

  it('refuses unknown and disabled jails before looking at the address', () => {
    expect(checkGuard('203.0.113.7', 'nope', context())).toMatchObject({
      allowed: false,
      outcome: 'ignored-unknown-jail',
    });
    expect(checkGuard('203.0.113.7', 'off', context())).toMatchObject({
      allowed: false,
      outcome: 'ignored-jail-disabled',
    });
    // Prototype keys are not jails.
    expect(checkGuard('203.0.113.7', 'constructor', context())).toMatchObject({
      outcome: 'ignored-unknown-jail',
    });
  });

  it('refuses invalid addresses', () => {
    for (const bad of ['', 'localhost', '1.2.3', '0x7f.1', '1.2.3.4; rm -rf /', 'fe80::1%eth0']) {
      expect(checkGuard(bad, 'sshd', context())).toMatchObject({
        allowed: false,
        outcome: 'ignored-invalid-ip',
      });
    }
  });

  it('applies ignoreip to IPv4, IPv6 and IPv4-mapped IPv6 addresses', () => {
    for (const ip of ['192.0.2.55', '::ffff:192.0.2.55', '::FFFF:c000:0237', '2001:db8:aaaa:1::9']) {
      expect(checkGuard(ip, 'sshd', context())).toMatchObject({
        allowed: false,
        outcome: 'ignored-allowlisted',
      });
    }
    expect(checkGuard('192.0.3.1', 'sshd', context())).toMatchObject({ allowed: true });
  });

  it('checks ignoreip before the never-ban ranges (loopback is in the default ignoreip)', () => {
    expect(checkGuard('127.0.0.1', 'sshd', context())).toMatchObject({ outcome: 'ignored-allowlisted' });
  });

  it('never bans loopback, unspecified, multicast, link-local or broadcast even without ignoreip', () => {
    const bare = context({ jails: { sshd: jail({ ignoreip: [] }) } });
    for (const ip of [
      '127.0.0.1',
      '::1',
      '0.0.0.0',
      '::',
      '224.0.0.1',
      'ff02::1',
      '169.254.1.1',
      'fe80::1',
    ]) {
      expect(checkGuard(ip, 'sshd', bare)).toMatchObject({ allowed: false, outcome: 'ignored-never-ban' });
    }
    expect(checkGuard('::ffff:127.0.0.1', 'sshd', bare)).toMatchObject({ outcome: 'ignored-never-ban' });
  });

  it('never bans the responder or a target host', () => {
    const verdict = checkGuard('198.51.100.10', 'sshd', context());
    expect(verdict).toMatchObject({ allowed: false, outcome: 'ignored-never-ban' });
    expect(verdict.allowed ? '' : verdict.reason).toContain('198.51.100.10');
    expect(checkGuard('198.51.100.11', 'sshd', context())).toMatchObject({ allowed: true });
  });

  it('refuses a widened IPv6 ban whose /64 would cover a protected or allowlisted address', () => {
    // 2001:db8:1::77 is fine on its own, but its /64 holds the protected 2001:db8:1::5.
    expect(checkGuard('2001:db8:1::77', 'sshd', context())).toMatchObject({ allowed: true });
    expect(checkGuard('2001:db8:1::77', 'v6', context())).toMatchObject({ outcome: 'ignored-never-ban' });
    const verdict = checkGuard('2001:db8:2::77', 'v6', context());
    expect(verdict).toMatchObject({ allowed: true, network: { address: '2001:db8:2::', prefix: 64 } });
  });

  it('refuses a manual CIDR ban that overlaps an allowlisted range', () => {
    expect(checkGuard('192.0.0.0/16', 'sshd', context())).toMatchObject({ outcome: 'ignored-allowlisted' });
    expect(checkGuard('10.0.0.0/8', 'sshd', context())).toMatchObject({ outcome: 'ignored-never-ban' });
    expect(checkGuard('203.0.113.0/24', 'sshd', context())).toMatchObject({
      allowed: true,
      network: { address: '203.0.113.0', prefix: 24 },
    });
  });

  it('uses an explicit ban network when the offence already carries one', () => {
    expect(checkGuard('2001:db8:1::77', 'sshd', context(), '2001:db8:1::/64')).toMatchObject({
      outcome: 'ignored-never-ban',
    });
  });
});

describe('banNetwork', () => {
  it('widens single IPv6 addresses to the jail prefix and keeps IPv4 and CIDRs', () => {
    expect(banNetwork('2001:db8::1:2:3:4', { ipv6prefix: 64 })).toEqual({
      family: 6,
      address: '2001:db8::',
      prefix: 64,
    });
    expect(banNetwork('::ffff:203.0.113.9', { ipv6prefix: 64 })).toEqual({
      family: 4,
      address: '203.0.113.9',
      prefix: 32,
    });
    expect(banNetwork('2001:db8::/48', { ipv6prefix: 64 })).toMatchObject({ prefix: 48 });
    expect(banNetwork('nope', { ipv6prefix: 64 })).toBeUndefined();
  });
});
