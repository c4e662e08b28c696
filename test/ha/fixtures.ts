import type { JailSettings } from '../../src/config/load.js';
import { NetworkSet } from '../../src/domain/ip.js';
import type { Offence } from '../../src/domain/types.js';
import type { DecisionPolicy } from '../../src/store/port.js';

export const HOSTS = ['web1', 'web2'] as const;

export const SSHD: JailSettings = {
  name: 'sshd',
  enabled: true,
  bantime: 600,
  findtime: 600,
  maxretry: 5,
  ignoreip: [],
  scope: 'all',
  ipv6prefix: 128,
  increment: {
    enabled: true,
    factor: 1,
    multipliers: [],
    maxtime: 604_800,
    rndtime: 0,
    overalljails: false,
    memory: 2_592_000,
  },
};

/** Every replica decides with the same settings; `now` pins the clock for rounds of escalation. */
export function haPolicy(now?: number): DecisionPolicy {
  return {
    jails: { sshd: SSHD },
    targetsFor: () => [...HOSTS],
    protectedNetworks: new NetworkSet([]),
    now: () => now ?? Date.now(),
    random: () => 0,
  };
}

/** The n-th attacker address: 198.18.0.0/15 is reserved for benchmarking, never a real host. */
export function attackerIp(n: number): string {
  return `198.18.${Math.floor(n / 250)}.${(n % 250) + 1}`;
}

export function offence(ip: string, startsAt: number, tag: string): Offence {
  return {
    fingerprint: `${tag}-${ip}`,
    startsAt,
    jail: 'sshd',
    ip,
    reportedIp: ip,
    source: 'alertmanager',
    summary: `failed SSH logins from ${ip}`,
    labels: { alertname: 'SshdBruteForce', jail: 'sshd', ip, tag },
    receivedAt: startsAt,
  };
}
