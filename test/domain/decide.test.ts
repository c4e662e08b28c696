import { describe, expect, it } from 'vitest';
import { BREAKER_REASON, decide, historyWindow, planDecision, planOffence } from '../../src/domain/decide.js';
import { jailSettings } from '../support/jail.js';

const jail = jailSettings();
const now = 1_800_000_000_000;
const base = { jail, now, random: () => 0, targets: ['web1', 'web2'] };

describe('decide', () => {
  it('bans at level = earlier bans with the escalated bantime', () => {
    expect(decide({ ...base, earlierBans: 0, active: undefined })).toEqual({
      kind: 'ban',
      level: 0,
      seconds: 600,
      expiresAt: now + 600_000,
      targets: ['web1', 'web2'],
    });
    expect(decide({ ...base, earlierBans: 3, active: undefined })).toMatchObject({
      level: 3,
      seconds: 4800,
      expiresAt: now + 4_800_000,
    });
  });

  it('de-duplicates targets', () => {
    expect(decide({ ...base, targets: ['a', 'a', 'b'], earlierBans: 0, active: undefined })).toMatchObject({
      targets: ['a', 'b'],
    });
  });

  it('bans permanently for bantime -1 and for a manual -1 duration', () => {
    const permanent = { ...jail, bantime: -1 };
    expect(decide({ ...base, jail: permanent, earlierBans: 4, active: undefined })).toMatchObject({
      expiresAt: null,
    });
    expect(decide({ ...base, duration: -1, earlierBans: 0, active: undefined })).toMatchObject({
      expiresAt: null,
    });
  });

  it('uses a manual duration instead of the escalated bantime but keeps the level', () => {
    expect(decide({ ...base, duration: 60, earlierBans: 2, active: undefined })).toMatchObject({
      level: 2,
      seconds: 60,
      expiresAt: now + 60_000,
    });
  });

  it('extends an active ban to now + the bantime of its own level', () => {
    const active = { id: 7, level: 2, expiresAt: now + 1_000, hosts: ['web1', 'web2'] };
    expect(decide({ ...base, earlierBans: 5, active })).toEqual({
      kind: 'extend',
      banId: 7,
      level: 2,
      expiresAt: now + 2_400_000,
      addTargets: [],
    });
  });

  it('never shortens an active ban', () => {
    const active = { id: 7, level: 0, expiresAt: now + 3_600_000, hosts: ['web1', 'web2'] };
    expect(decide({ ...base, earlierBans: 0, active })).toEqual({
      kind: 'unchanged',
      banId: 7,
      level: 0,
      expiresAt: now + 3_600_000,
    });
    expect(decide({ ...base, duration: 1, earlierBans: 0, active })).toMatchObject({ kind: 'unchanged' });
    const permanent = { ...active, expiresAt: null };
    expect(decide({ ...base, earlierBans: 0, active: permanent })).toMatchObject({
      kind: 'unchanged',
      expiresAt: null,
    });
  });

  it('adds new targets to an active ban without shortening it', () => {
    const active = { id: 7, level: 0, expiresAt: now + 3_600_000, hosts: ['web1'] };
    expect(decide({ ...base, targets: ['web1', 'web3'], earlierBans: 0, active })).toEqual({
      kind: 'extend',
      banId: 7,
      level: 0,
      expiresAt: now + 3_600_000,
      addTargets: ['web3'],
    });
  });

  it('turns an active temporary ban permanent on a manual -1', () => {
    const active = { id: 7, level: 0, expiresAt: now + 3_600_000, hosts: ['web1', 'web2'] };
    expect(decide({ ...base, duration: -1, earlierBans: 0, active })).toMatchObject({
      kind: 'extend',
      expiresAt: null,
    });
  });
});

describe('historyWindow', () => {
  it('counts this jail inside memory, or every jail with overalljails', () => {
    expect(historyWindow(jail, now)).toEqual({ since: now - 86_400_000, jail: 'sshd' });
    const all = { ...jail, increment: { ...jail.increment, overalljails: true } };
    expect(historyWindow(all, now)).toEqual({ since: now - 86_400_000, jail: undefined });
  });
});

describe('planOffence', () => {
  const cause = {
    ip: '203.0.113.7',
    jail,
    source: 'alertmanager' as const,
    actor: 'alertmanager',
    summary: null,
    sample: null,
    detail: {},
  };
  const active = { id: 4, level: 1, expiresAt: now + 60_000, hosts: ['web1'] };

  function policy(admit: boolean) {
    const asked: string[] = [];
    return {
      asked,
      policy: {
        targetsFor: () => ['web1', 'web2'],
        random: () => 0,
        admitNewBan: (name: string) => {
          asked.push(name);
          return admit;
        },
      },
    };
  }

  it('refuses a new ban the circuit breaker does not admit, with nothing to write', () => {
    const { asked, policy: refusing } = policy(false);
    const plan = planOffence(cause, { active: undefined, earlierBans: 0 }, now, refusing);
    expect(plan).toEqual({ outcome: 'ignored-breaker', reason: BREAKER_REASON });
    expect(asked).toEqual([jail.name]);
  });

  it('plans the new ban the breaker admits exactly as planDecision does', () => {
    const { policy: admitting } = policy(true);
    const snapshot = { active: undefined, earlierBans: 2 };
    expect(planOffence(cause, snapshot, now, admitting)).toEqual(
      planDecision(cause, snapshot, now, admitting),
    );
  });

  it('never asks the breaker about an extension of an active ban', () => {
    const { asked, policy: refusing } = policy(false);
    const plan = planOffence(cause, { active, earlierBans: 0 }, now, refusing);
    expect(plan.outcome).toBe('extended');
    expect(asked).toEqual([]);
  });
});
