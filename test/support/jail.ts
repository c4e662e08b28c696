import type { IncrementSettings, JailSettings } from '../../src/domain/jail.js';

/**
 * bantime.increment as fail2ban's jail.conf example sets it (factor 1, no multipliers, one week at
 * most, no random part), remembered for a day; tests override what they exercise.
 */
export function incrementSettings(overrides: Partial<IncrementSettings> = {}): IncrementSettings {
  return {
    enabled: true,
    factor: 1,
    multipliers: [],
    maxtime: 604_800,
    rndtime: 0,
    overalljails: false,
    memory: 86_400,
    ...overrides,
  };
}

/** An enabled `sshd` jail: 10-minute bans after 5 matches in 10 minutes, no ignoreip, escalating. */
export function jailSettings(overrides: Partial<JailSettings> = {}): JailSettings {
  return {
    name: 'sshd',
    enabled: true,
    bantime: 600,
    findtime: 600,
    maxretry: 5,
    ignoreip: [],
    scope: 'all',
    ipv6prefix: 128,
    increment: incrementSettings(),
    ...overrides,
  };
}
