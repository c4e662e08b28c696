import { parseConfig } from '../../src/config/load.js';
import { buildDecisionPolicy } from '../../src/config/policy.js';
import type { DecisionPolicy } from '../../src/domain/policy.js';
import type { Offence } from '../../src/domain/types.js';

export const HOSTS = ['web1', 'web2'] as const;

// fail2ban's defaults: bantime 10m, bantime.increment doubling up to a week.
const CONFIG = parseConfig(
  `
auth: { webhook: { bearer: "ha-test-token-0123456789" } }
# Bursts of thousands of new bans a minute: these tests are about replicas, not the circuit breaker.
safety: { maxNewBansPerMinute: 0 }
jails: { sshd: {} }
hosts:
  - { name: web1, address: 192.0.2.1 }
  - { name: web2, address: 192.0.2.2 }
`,
  {},
);

/** Every replica decides with the same settings; `now` pins the clock for rounds of escalation. */
export function haPolicy(now?: number): DecisionPolicy {
  return buildDecisionPolicy(CONFIG, {
    localAddresses: [],
    now: () => now ?? Date.now(),
    random: () => 0,
  });
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
