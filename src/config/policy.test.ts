import { describe, expect, it } from 'vitest';
import { parseAddress, parseNetwork } from '../domain/ip.js';
import type { ScopeFallback } from '../domain/policy.js';
import { parseConfig } from './load.js';
import { buildDecisionPolicy, localInterfaceAddresses } from './policy.js';

const yaml = `
server:
  ownAddresses: [198.51.100.1, "2001:db8:ffff::/48"]
auth:
  webhook: { bearer: "0123456789abcdef0123" }
defaults:
  scope: origin
jails:
  sshd: {}
  nginx: { scope: all }
  postfix: { scope: [mail1] }
hosts:
  - { name: web1, address: 192.0.2.11, match: { host: web1.example.com } }
  - { name: web2, address: "2001:db8::12" }
  - { name: mail1, address: mail1.example.com, match: { host: mx } }
`;
const config = parseConfig(yaml, {});

describe('buildDecisionPolicy', () => {
  it('targets every host for scope all and the listed hosts for an explicit list', () => {
    const policy = buildDecisionPolicy(config, { localAddresses: [] });
    expect(policy.targetsFor(config.jails.nginx!, 'web1')).toEqual(['web1', 'web2', 'mail1']);
    expect(policy.targetsFor(config.jails.postfix!, 'web1')).toEqual(['mail1']);
  });

  it('targets the origin host by name or by a match value', () => {
    const policy = buildDecisionPolicy(config, { localAddresses: [] });
    expect(policy.targetsFor(config.jails.sshd!, 'web2')).toEqual(['web2']);
    expect(policy.targetsFor(config.jails.sshd!, 'web1.example.com')).toEqual(['web1']);
    expect(policy.targetsFor(config.jails.sshd!, 'mx')).toEqual(['mail1']);
  });

  it('falls back to every host, visibly, when the origin matches nothing', () => {
    const events: ScopeFallback[] = [];
    const policy = buildDecisionPolicy(config, {
      localAddresses: [],
      onScopeFallback: (e) => events.push(e),
    });
    expect(policy.targetsFor(config.jails.sshd!, 'db9')).toEqual(['web1', 'web2', 'mail1']);
    expect(policy.targetsFor(config.jails.sshd!, undefined)).toEqual(['web1', 'web2', 'mail1']);
    expect(events).toEqual([
      { jail: 'sshd', originHost: 'db9', reason: 'no host is named "db9" or matches it' },
      { jail: 'sshd', originHost: undefined, reason: 'the alert has no host label' },
    ]);
  });

  it('keeps the protected set live: interfaces re-read, live SSH connections tracked', () => {
    let clock = 0;
    let interfaces = ['10.9.8.7'];
    const policy = buildDecisionPolicy(config, {
      now: () => clock,
      interfaces: { read: () => interfaces, refreshMs: 10_000 },
    });
    const covered = (ip: string) => policy.protectedNetworks.covers(parseNetwork(ip)!) !== undefined;
    expect(covered('10.9.8.7')).toBe(true);
    // A failover address arrives after start-up: protected from the next re-read on.
    interfaces = ['10.9.8.7', '172.16.5.5'];
    clock = 10_000;
    expect(covered('172.16.5.5')).toBe(true);
    // …and a prefix that contains it is refused as well.
    expect(covered('172.16.0.0/12')).toBe(true);
    // The source address of a live SSH connection (a NAT or VPN address no interface shows).
    let live: string[] = [];
    policy.protectedNetworks.track(() => live);
    expect(covered('100.64.1.2')).toBe(false);
    live = ['100.64.1.2'];
    expect(covered('100.64.1.2')).toBe(true);
    expect(covered('100.64.0.0/16')).toBe(true);
    live = [];
    expect(covered('100.64.1.2')).toBe(false);
  });

  it('protects own addresses, local interfaces and IP-literal host addresses', () => {
    const policy = buildDecisionPolicy(config, { localAddresses: ['10.9.8.7', 'fe80::1', 'not-an-ip'] });
    const covered = (ip: string) => policy.protectedNetworks.covers(parseAddress(ip)!) !== undefined;
    expect(covered('198.51.100.1')).toBe(true);
    expect(covered('2001:db8:ffff:1::1')).toBe(true);
    expect(covered('10.9.8.7')).toBe(true);
    expect(covered('192.0.2.11')).toBe(true);
    expect(covered('2001:db8::12')).toBe(true);
    expect(covered('192.0.2.12')).toBe(false);
    expect(covered('10.9.8.6')).toBe(false);
  });

  it("reads this machine's interfaces by default", () => {
    const policy = buildDecisionPolicy(config);
    const loopback = localInterfaceAddresses().find((a) => a === '127.0.0.1');
    expect(loopback).toBe('127.0.0.1');
    expect(policy.protectedNetworks.covers(parseAddress('127.0.0.1')!)).toBeDefined();
  });

  it('uses injected clocks and randomness', () => {
    const policy = buildDecisionPolicy(config, { localAddresses: [], now: () => 42, random: () => 0.5 });
    expect(policy.now()).toBe(42);
    expect(policy.random()).toBe(0.5);
    expect(policy.jails).toBe(config.jails);
  });
});
