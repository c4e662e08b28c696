import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { buildDecisionPolicy } from '../../src/config/policy.js';
import { BanRefusedError } from '../../src/domain/guard.js';
import type { DecisionPolicy } from '../../src/domain/policy.js';
import type { BatchItem, Offence } from '../../src/domain/types.js';
import type { Store } from '../../src/store/port.js';

export interface StoreFixture {
  store: Store;
  /** Closes the store and opens the same database again (durability checks). */
  reopen?: () => Promise<Store>;
  cleanup: () => Promise<void>;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 10, 27, 8, 0, 0);

const CONFIG = parseConfig(
  `
auth: { webhook: { bearer: "contract-test-token-0123" } }
defaults:
  bantime: 10m
  ignoreip: [127.0.0.0/8, "::1", 192.0.2.0/24]
  increment: { maxtime: 1w, memory: 1d }
jails:
  sshd: {}
  nginx: { bantime: 1h }
  postfix: { increment: { overalljails: true } }
  web: { scope: origin, ipv6prefix: 64 }
  perm: { bantime: -1 }
  off: { enabled: false }
hosts:
  - { name: web1, address: 198.51.100.1, match: { host: web1.example.com } }
  - { name: web2, address: 198.51.100.2 }
  - { name: mail, address: mail.example.com }
`,
  {},
);

/** A controllable clock and a policy on the contract configuration. */
function makePolicy(overrides: Partial<DecisionPolicy> = {}) {
  const clock = { now: T0 };
  const policy: DecisionPolicy = {
    ...buildDecisionPolicy(CONFIG, { localAddresses: ['10.77.0.1'], now: () => clock.now, random: () => 0 }),
    ...overrides,
  };
  return { clock, policy };
}

let serial = 0;
function offence(ip: string, jail: string, extra: Partial<Offence> & { index?: number } = {}): BatchItem {
  serial += 1;
  const { index = 0, ...rest } = extra;
  return {
    kind: 'offence',
    index,
    offence: {
      fingerprint: `fp-${serial}`,
      startsAt: T0 + serial,
      jail,
      ip,
      reportedIp: ip,
      source: 'alertmanager',
      labels: { alertname: 'SshdBruteForce', ip, jail },
      receivedAt: T0,
      ...rest,
    },
  };
}

function at<T extends BatchItem>(item: T, index: number): T {
  return { ...item, index };
}

/**
 * The behaviour every Store must share (SQLite, Postgres): run it with `storeContract(name, factory)`
 * from a test file. Each test gets a fresh, initialised, empty store from `makeStore`.
 */
export function storeContract(name: string, makeStore: () => Promise<StoreFixture>): void {
  describe(`Store contract: ${name}`, () => {
    let fixture: StoreFixture;
    let store: Store;

    beforeEach(async () => {
      fixture = await makeStore();
      store = fixture.store;
    });

    afterEach(async () => {
      await fixture.cleanup();
    });

    describe('recording offences', () => {
      it('bans a first offence at level 0 for the jail bantime on every target', async () => {
        const { policy } = makePolicy();
        const [result] = (await store.recordBatch([offence('203.0.113.7', 'sshd')], policy, 'alertmanager'))
          .outcomes;
        expect(result).toMatchObject({
          index: 0,
          outcome: 'banned',
          ip: '203.0.113.7',
          jail: 'sshd',
          level: 0,
          until: new Date(T0 + 10 * MINUTE).toISOString(),
        });
        const ban = await store.getBan(result!.banId!);
        expect(ban).toMatchObject({
          ip: '203.0.113.7',
          jail: 'sshd',
          level: 0,
          createdAt: T0,
          expiresAt: T0 + 10 * MINUTE,
          liftedAt: null,
          offences: 1,
          source: 'alertmanager',
        });
        expect(ban!.hosts.map((h) => [h.host, h.desired, h.state])).toEqual([
          ['mail', 'present', 'pending'],
          ['web1', 'present', 'pending'],
          ['web2', 'present', 'pending'],
        ]);
      });

      it('keeps summary and sample from the offence', async () => {
        const { policy } = makePolicy();
        const [result] = (
          await store.recordBatch(
            [offence('203.0.113.7', 'sshd', { summary: '5 failures', sample: 'Failed password for root' })],
            policy,
            'alertmanager',
          )
        ).outcomes;
        expect(await store.getBan(result!.banId!)).toMatchObject({
          summary: '5 failures',
          sample: 'Failed password for root',
        });
      });

      it('refuses new bans past the circuit breaker without recording them, so a repeat is decided later', async () => {
        let room = 2;
        const { policy } = makePolicy({ admitNewBan: () => room-- > 0 });
        await store.recordBatch([offence('198.51.100.9', 'sshd')], makePolicy().policy, 'alertmanager');
        const batch = [
          // An active ban is extended, never counted as new.
          at(offence('198.51.100.9', 'sshd'), 0),
          ...['203.0.113.1', '203.0.113.2', '203.0.113.3'].map((ip, i) => at(offence(ip, 'sshd'), i + 1)),
        ];
        const first = (await store.recordBatch(batch, policy, 'alertmanager')).outcomes;
        expect(first.map((r) => r.outcome)).toEqual(['unchanged', 'banned', 'banned', 'ignored-breaker']);
        expect(first[3]!.reason).toMatch(/circuit breaker open/);
        room = 10;
        const again = (await store.recordBatch(batch, policy, 'alertmanager')).outcomes;
        expect(again.map((r) => r.outcome)).toEqual(['duplicate', 'duplicate', 'duplicate', 'banned']);
      });

      it('treats a repeated delivery as a duplicate that changes nothing', async () => {
        const { policy, clock } = makePolicy();
        const batch = [at(offence('203.0.113.7', 'sshd'), 0), at(offence('203.0.113.8', 'nginx'), 1)];
        const first = (await store.recordBatch(batch, policy, 'alertmanager')).outcomes;
        expect(first.map((r) => r.outcome)).toEqual(['banned', 'banned']);
        const auditBefore = await store.listAudit({});
        clock.now += 5 * MINUTE;
        const again = (await store.recordBatch(batch, policy, 'alertmanager')).outcomes;
        expect(again.map((r) => [r.outcome, r.banId])).toEqual([
          ['duplicate', first[0]!.banId],
          ['duplicate', first[1]!.banId],
        ]);
        const bans = await store.listBans({}, clock.now);
        expect(bans).toHaveLength(2);
        expect(bans.every((b) => b.offences === 1 && b.updatedAt === T0)).toBe(true);
        expect(await store.listAudit({})).toEqual(auditBefore);
      });

      it('bans once when the same batch is delivered concurrently', async () => {
        const { policy, clock } = makePolicy();
        const batch = [at(offence('203.0.113.7', 'sshd'), 0), at(offence('203.0.113.9', 'sshd'), 1)];
        const results = await Promise.all(
          Array.from({ length: 8 }, () =>
            store.recordBatch(batch, policy, 'alertmanager').then((result) => result.outcomes),
          ),
        );
        const outcomes = results.flat().map((r) => r.outcome);
        expect(outcomes.filter((o) => o === 'banned')).toHaveLength(2);
        expect(outcomes.filter((o) => o === 'duplicate')).toHaveLength(14);
        const bans = await store.listBans({}, clock.now);
        expect(bans).toHaveLength(2);
        expect(bans.map((b) => b.offences)).toEqual([1, 1]);
      });

      it('returns one outcome per item in index order, passing skipped items through', async () => {
        const { policy } = makePolicy();
        const items: BatchItem[] = [
          at(offence('203.0.113.7', 'sshd'), 2),
          { kind: 'skip', index: 0, outcome: { index: 0, outcome: 'ignored-no-ip', reason: 'no ip label' } },
          at(offence('203.0.113.7', 'sshd'), 1),
        ];
        const results = (await store.recordBatch(items, policy, 'grafana')).outcomes;
        expect(results.map((r) => [r.index, r.outcome])).toEqual([
          [0, 'ignored-no-ip'],
          [1, 'banned'],
          [2, 'unchanged'],
        ]);
      });

      it('accepts an empty batch', async () => {
        const { policy } = makePolicy();
        expect((await store.recordBatch([], policy, 'alertmanager')).outcomes).toEqual([]);
      });

      it('decides a second offence in the same batch against the first one', async () => {
        const { policy } = makePolicy();
        const results = (
          await store.recordBatch(
            [
              at(offence('203.0.113.7', 'web', { originHost: 'web1' }), 0),
              at(offence('203.0.113.7', 'web', { originHost: 'web2' }), 1),
            ],
            policy,
            'alertmanager',
          )
        ).outcomes;
        expect(results.map((r) => r.outcome)).toEqual(['banned', 'extended']);
        expect(results[1]!.banId).toBe(results[0]!.banId);
        const ban = await store.getBan(results[0]!.banId!);
        expect(ban!.hosts.map((h) => h.host)).toEqual(['web1', 'web2']);
        expect(ban!.offences).toBe(2);
      });
    });

    describe('guard', () => {
      it('ignores allowlisted, never-ban and protected addresses, once per offence', async () => {
        const { policy, clock } = makePolicy();
        const items = [
          at(offence('192.0.2.44', 'sshd'), 0),
          at(offence('127.0.0.1', 'sshd'), 1),
          at(offence('224.0.0.5', 'sshd'), 2),
          at(offence('198.51.100.2', 'sshd'), 3),
          at(offence('10.77.0.1', 'sshd'), 4),
          at(offence('fe80::1', 'web'), 5),
        ];
        const results = (await store.recordBatch(items, policy, 'alertmanager')).outcomes;
        expect(results.map((r) => r.outcome)).toEqual([
          'ignored-allowlisted',
          'ignored-allowlisted',
          'ignored-never-ban',
          'ignored-never-ban',
          'ignored-never-ban',
          'ignored-never-ban',
        ]);
        expect(results.every((r) => typeof r.reason === 'string' && r.reason.length > 0)).toBe(true);
        expect(await store.listBans({}, clock.now)).toEqual([]);
        const ignored = (await store.listAudit({})).filter((e) => e.kind === 'ignored');
        expect(ignored).toHaveLength(6);
        const again = (await store.recordBatch(items, policy, 'alertmanager')).outcomes;
        expect(again.every((r) => r.outcome === 'duplicate')).toBe(true);
        expect((await store.listAudit({})).filter((e) => e.kind === 'ignored')).toHaveLength(6);
      });

      it('does not record offences of unknown or disabled jails, so a config fix takes effect', async () => {
        const { policy, clock } = makePolicy();
        const items = [at(offence('203.0.113.5', 'nope'), 0), at(offence('203.0.113.6', 'off'), 1)];
        for (let round = 0; round < 2; round++) {
          const results = (await store.recordBatch(items, policy, 'alertmanager')).outcomes;
          expect(results.map((r) => r.outcome)).toEqual(['ignored-unknown-jail', 'ignored-jail-disabled']);
        }
        expect(await store.listAudit({})).toEqual([]);
        const enabled: DecisionPolicy = {
          ...policy,
          jails: { ...policy.jails, off: { ...policy.jails.off!, enabled: true } },
        };
        const [, now] = (await store.recordBatch(items, enabled, 'alertmanager')).outcomes;
        expect(now).toMatchObject({ outcome: 'banned', ip: '203.0.113.6' });
        expect(await store.listBans({ active: true }, clock.now)).toHaveLength(1);
      });

      it('refuses a manual ban the guard rejects, recording nothing', async () => {
        const { policy, clock } = makePolicy();
        await expect(
          store
            .manualBan({ ip: '192.0.2.9', jail: 'sshd', actor: 'admin' }, policy)
            .then((result) => result.ban),
        ).rejects.toThrow(BanRefusedError);
        await expect(
          store
            .manualBan({ ip: '203.0.113.1', jail: 'nope', actor: 'admin' }, policy)
            .then((result) => result.ban),
        ).rejects.toMatchObject({ outcome: 'ignored-unknown-jail' });
        expect(await store.listBans({}, clock.now)).toEqual([]);
      });
    });

    describe('escalation', () => {
      it('doubles the bantime for every earlier ban of the ip in the jail, up to maxtime', async () => {
        const { policy, clock } = makePolicy();
        const seconds: number[] = [];
        for (let n = 0; n < 12; n++) {
          const [result] = (await store.recordBatch([offence('203.0.113.7', 'sshd')], policy, 'alertmanager'))
            .outcomes;
          expect(result).toMatchObject({ outcome: 'banned', level: n });
          const ban = await store.getBan(result!.banId!);
          seconds.push((ban!.expiresAt! - ban!.createdAt) / 1000);
          // The next offence arrives after this ban ended but inside the 1d memory of every earlier one.
          clock.now = ban!.expiresAt! + 1;
          if (clock.now - T0 > DAY) break;
        }
        expect(seconds.slice(0, 6)).toEqual([600, 1200, 2400, 4800, 9600, 19_200]);
      });

      it('forgets bans older than the memory window', async () => {
        const { policy, clock } = makePolicy();
        await store.recordBatch([offence('203.0.113.7', 'sshd')], policy, 'alertmanager');
        clock.now += 20 * MINUTE;
        const [second] = (await store.recordBatch([offence('203.0.113.7', 'sshd')], policy, 'alertmanager'))
          .outcomes;
        expect(second).toMatchObject({ level: 1 });
        clock.now = T0 + DAY + 30 * MINUTE;
        const [third] = (await store.recordBatch([offence('203.0.113.7', 'sshd')], policy, 'alertmanager'))
          .outcomes;
        expect(third).toMatchObject({ outcome: 'banned', level: 0 });
      });

      it('counts only the same jail, unless the jail has overalljails', async () => {
        const { policy, clock } = makePolicy();
        await store.recordBatch([offence('203.0.113.7', 'sshd')], policy, 'alertmanager');
        await store.recordBatch([offence('203.0.113.7', 'nginx')], policy, 'alertmanager');
        clock.now += 2 * MINUTE;
        const [sshdAgain] = (
          await store.recordBatch([offence('203.0.113.8', 'sshd')], policy, 'alertmanager')
        ).outcomes;
        expect(sshdAgain).toMatchObject({ outcome: 'banned', level: 0 });
        const [postfix] = (
          await store.recordBatch([offence('203.0.113.7', 'postfix')], policy, 'alertmanager')
        ).outcomes;
        expect(postfix).toMatchObject({
          outcome: 'banned',
          level: 2,
          until: new Date(clock.now + 2400_000).toISOString(),
        });
      });

      it('keeps bantime -1 permanent', async () => {
        const { policy, clock } = makePolicy();
        const [result] = (await store.recordBatch([offence('203.0.113.7', 'perm')], policy, 'alertmanager'))
          .outcomes;
        expect(result).toMatchObject({ outcome: 'banned', until: 'permanent' });
        clock.now += 365 * DAY;
        const [active] = await store.listBans({ active: true }, clock.now);
        expect(active).toMatchObject({ id: result!.banId, expiresAt: null });
      });
    });

    describe('extending', () => {
      it('extends an active ban to now + its level bantime and never shortens it', async () => {
        const { policy, clock } = makePolicy();
        const [first] = (await store.recordBatch([offence('203.0.113.7', 'nginx')], policy, 'alertmanager'))
          .outcomes;
        clock.now += 10 * MINUTE;
        const [extended] = (
          await store.recordBatch([offence('203.0.113.7', 'nginx')], policy, 'alertmanager')
        ).outcomes;
        expect(extended).toMatchObject({
          outcome: 'extended',
          banId: first!.banId,
          level: 0,
          until: new Date(clock.now + HOUR).toISOString(),
        });
        // A manual ban for a shorter time must not shorten it.
        const manual = (
          await store.manualBan({ ip: '203.0.113.7', jail: 'nginx', duration: 60, actor: 'admin' }, policy)
        ).ban;
        expect(manual).toMatchObject({ id: first!.banId, expiresAt: clock.now + HOUR });
        clock.now += MINUTE;
        const ban = await store.getBan(first!.banId!);
        expect(ban).toMatchObject({ expiresAt: T0 + 10 * MINUTE + HOUR, offences: 3 });
      });

      it('reports unchanged when the ban already lasts longer and covers the targets', async () => {
        const { policy } = makePolicy();
        (await store.manualBan({ ip: '203.0.113.7', jail: 'sshd', duration: 86_400, actor: 'admin' }, policy))
          .ban;
        const [result] = (await store.recordBatch([offence('203.0.113.7', 'sshd')], policy, 'alertmanager'))
          .outcomes;
        expect(result).toMatchObject({ outcome: 'unchanged', until: new Date(T0 + DAY).toISOString() });
      });

      it('adds the new origin host as a target of an active ban', async () => {
        const { policy, clock } = makePolicy();
        const [first] = (
          await store.recordBatch(
            [offence('203.0.113.7', 'web', { originHost: 'web1.example.com' })],
            policy,
            'alertmanager',
          )
        ).outcomes;
        expect((await store.getBan(first!.banId!))!.hosts.map((h) => h.host)).toEqual(['web1']);
        await store.markApplied(await store.claimPending('web1', 10, clock.now), clock.now);
        const [second] = (
          await store.recordBatch(
            [offence('203.0.113.7', 'web', { originHost: 'web2' })],
            policy,
            'alertmanager',
          )
        ).outcomes;
        expect(second).toMatchObject({ outcome: 'extended', banId: first!.banId });
        const hosts = (await store.getBan(first!.banId!))!.hosts;
        expect(hosts.map((h) => [h.host, h.state])).toEqual([
          ['web1', 'applied'],
          ['web2', 'pending'],
        ]);
      });

      it('bans the IPv6 /64 of the jail and matches it by any address inside', async () => {
        const { policy, clock } = makePolicy();
        const [result] = (
          await store.recordBatch(
            [offence('2001:db8:5:6::1', 'web', { ip: '2001:db8:5:6::/64', originHost: 'web2' })],
            policy,
            'alertmanager',
          )
        ).outcomes;
        expect(result).toMatchObject({ outcome: 'banned', ip: '2001:db8:5:6::/64' });
        const found = await store.listBans({ ip: '2001:db8:5:6::99' }, clock.now);
        expect(found.map((b) => b.id)).toEqual([result!.banId]);
        const lifted = (await store.unban('2001:db8:5:6::abcd', { actor: 'admin', now: clock.now })).bans;
        expect(lifted.map((b) => b.id)).toEqual([result!.banId]);
      });
    });

    describe('resolved alerts', () => {
      it('records a resolved alert without unbanning', async () => {
        const { policy, clock } = makePolicy();
        const item = offence('203.0.113.7', 'sshd');
        if (item.kind !== 'offence') throw new Error('unreachable');
        const [banned] = (await store.recordBatch([item], policy, 'alertmanager')).outcomes;
        clock.now += MINUTE;
        const resolved: BatchItem = {
          kind: 'resolved',
          index: 0,
          fingerprint: item.offence.fingerprint,
          startsAt: item.offence.startsAt,
          endsAt: clock.now,
          ip: '203.0.113.7',
          jail: 'sshd',
        };
        const [result] = (await store.recordBatch([resolved], policy, 'alertmanager')).outcomes;
        expect(result).toMatchObject({ outcome: 'resolved-recorded', banId: banned!.banId });
        await store.recordBatch([resolved], policy, 'alertmanager');
        expect((await store.listBans({ active: true }, clock.now)).map((b) => b.id)).toEqual([banned!.banId]);
        const events = (await store.listAudit({})).filter((e) => e.kind === 'resolved');
        expect(events).toHaveLength(1);
        // The same alert firing again (same startsAt) is still the same offence.
        const [repeat] = (await store.recordBatch([item], policy, 'alertmanager')).outcomes;
        expect(repeat!.outcome).toBe('duplicate');
      });
    });

    describe('bursts', () => {
      it('finds the latest offence of a fingerprint at or before a time, with its end once recorded', async () => {
        const { policy, clock } = makePolicy();
        const burst = (startsAt: number) =>
          offence('203.0.113.9', 'sshd', { fingerprint: 'burst:contract', startsAt, source: 'loki-tail' });
        await store.recordBatch([burst(T0 + MINUTE)], policy, 'loki-tail');
        await store.recordBatch([burst(T0 + HOUR)], policy, 'loki-tail');
        clock.now += 2 * HOUR;
        const ended: BatchItem = {
          kind: 'resolved',
          index: 0,
          fingerprint: 'burst:contract',
          startsAt: T0 + MINUTE,
          endsAt: T0 + 10 * MINUTE,
          ip: '203.0.113.9',
          jail: 'sshd',
        };
        await store.recordBatch([ended], policy, 'loki-tail');
        const found = await store.findBursts([
          { fingerprint: 'burst:contract', at: T0 },
          { fingerprint: 'burst:contract', at: T0 + MINUTE },
          { fingerprint: 'burst:contract', at: T0 + 30 * MINUTE },
          { fingerprint: 'burst:contract', at: T0 + 2 * HOUR },
          { fingerprint: 'burst:other', at: T0 + 2 * HOUR },
        ]);
        expect(found).toEqual([
          undefined,
          { startsAt: T0 + MINUTE, endedAt: T0 + 10 * MINUTE },
          { startsAt: T0 + MINUTE, endedAt: T0 + 10 * MINUTE },
          { startsAt: T0 + HOUR, endedAt: null },
          undefined,
        ]);
        expect(await store.findBursts([])).toEqual([]);
      });
    });

    describe('unban', () => {
      it('lifts active bans, withdraws every target, and keeps history for escalation', async () => {
        const { policy, clock } = makePolicy();
        const [first] = (await store.recordBatch([offence('203.0.113.7', 'sshd')], policy, 'alertmanager'))
          .outcomes;
        await store.recordBatch([offence('203.0.113.7', 'nginx')], policy, 'alertmanager');
        clock.now += MINUTE;
        const lifted = (
          await store.unban('203.0.113.7', {
            jail: 'sshd',
            actor: 'alice',
            reason: 'false positive',
            now: clock.now,
          })
        ).bans;
        expect(lifted).toHaveLength(1);
        expect(lifted[0]).toMatchObject({ id: first!.banId, liftedAt: clock.now, liftedBy: 'alice' });
        expect(lifted[0]!.hosts.every((h) => h.desired === 'absent' && h.state === 'pending')).toBe(true);
        expect((await store.listBans({ active: true }, clock.now)).map((b) => b.jail)).toEqual(['nginx']);
        expect(
          (await store.unban('203.0.113.7', { jail: 'sshd', actor: 'alice', now: clock.now })).bans,
        ).toEqual([]);

        clock.now += MINUTE;
        const [again] = (await store.recordBatch([offence('203.0.113.7', 'sshd')], policy, 'alertmanager'))
          .outcomes;
        expect(again).toMatchObject({ outcome: 'banned', level: 1 });

        const all = (await store.unban('203.0.113.7', { actor: 'bob', now: clock.now })).bans;
        expect(all.map((b) => b.jail).sort()).toEqual(['nginx', 'sshd']);
        const audit = await store.listAudit({ ip: '203.0.113.7' });
        expect(audit.filter((e) => e.kind === 'unban').map((e) => e.actor)).toEqual(['bob', 'bob', 'alice']);
        expect(audit.find((e) => e.actor === 'alice')!.detail).toMatchObject({ reason: 'false positive' });
      });

      it('returns nothing for an invalid or unknown address', async () => {
        const { clock } = makePolicy();
        expect((await store.unban('not-an-ip', { actor: 'a', now: clock.now })).bans).toEqual([]);
        expect((await store.unban('203.0.113.250', { actor: 'a', now: clock.now })).bans).toEqual([]);
      });
    });

    describe('manual bans', () => {
      it('bans for a given duration, permanently, or with escalation, on chosen hosts', async () => {
        const { policy, clock } = makePolicy();
        const timed = (
          await store.manualBan(
            {
              ip: '203.0.113.7',
              jail: 'sshd',
              duration: 3600,
              actor: 'alice',
              reason: 'scanner',
              hosts: ['web2'],
            },
            policy,
          )
        ).ban;
        expect(timed).toMatchObject({
          ip: '203.0.113.7',
          level: 0,
          expiresAt: T0 + HOUR,
          source: 'manual',
          summary: 'scanner',
        });
        expect(timed.hosts.map((h) => h.host)).toEqual(['web2']);
        const permanent = (
          await store.manualBan({ ip: '203.0.113.0/24', jail: 'nginx', duration: -1, actor: 'a' }, policy)
        ).ban;
        expect(permanent).toMatchObject({ ip: '203.0.113.0/24', expiresAt: null });
        await store.unban('203.0.113.7', { jail: 'sshd', actor: 'alice', now: clock.now });
        const escalated = (
          await store.manualBan({ ip: '::ffff:203.0.113.7', jail: 'sshd', actor: 'alice' }, policy)
        ).ban;
        expect(escalated).toMatchObject({ ip: '203.0.113.7', level: 1, expiresAt: T0 + 1200_000 });
        expect(escalated.hosts).toHaveLength(3);
        const audit = await store.listAudit({ ip: '203.0.113.7' });
        expect(audit[0]).toMatchObject({ kind: 'ban', actor: 'alice', banId: escalated.id });
      });
    });

    describe('outbox', () => {
      it('claims due rows per host and completes them', async () => {
        const { policy, clock } = makePolicy();
        const [result] = (await store.recordBatch([offence('203.0.113.7', 'sshd')], policy, 'alertmanager'))
          .outcomes;
        expect(await store.pendingHosts(clock.now)).toEqual(['mail', 'web1', 'web2']);
        const items = await store.claimPending('web1', 10, clock.now);
        expect(items).toEqual([
          {
            targetId: expect.any(Number),
            banId: result!.banId,
            host: 'web1',
            ip: '203.0.113.7',
            jail: 'sshd',
            desired: 'present',
            expiresAt: T0 + 10 * MINUTE,
            version: expect.any(Number),
            attempts: 0,
          },
        ]);
        await store.markApplied(items, clock.now + 5);
        expect(await store.claimPending('web1', 10, clock.now)).toEqual([]);
        expect(await store.pendingHosts(clock.now)).toEqual(['mail', 'web2']);
        const web1 = (await store.getBan(result!.banId!))!.hosts.find((h) => h.host === 'web1');
        expect(web1).toEqual({
          host: 'web1',
          desired: 'present',
          state: 'applied',
          attempts: 1,
          lastError: null,
          appliedAt: clock.now + 5,
        });
      });

      it('retries failed rows after their next attempt time', async () => {
        const { policy, clock } = makePolicy();
        const [result] = (await store.recordBatch([offence('203.0.113.7', 'sshd')], policy, 'alertmanager'))
          .outcomes;
        const items = await store.claimPending('web2', 10, clock.now);
        await store.markFailed(items, 'web2: connection refused', clock.now + 30_000);
        expect(await store.claimPending('web2', 10, clock.now + 29_999)).toEqual([]);
        expect(await store.pendingHosts(clock.now)).toEqual(['mail', 'web1']);
        const retry = await store.claimPending('web2', 10, clock.now + 30_000);
        expect(retry).toMatchObject([{ targetId: items[0]!.targetId, attempts: 1 }]);
        const web2 = (await store.getBan(result!.banId!))!.hosts.find((h) => h.host === 'web2');
        expect(web2).toMatchObject({ state: 'failed', attempts: 1, lastError: 'web2: connection refused' });
      });

      it('does not let a stale completion hide an extension made while the batch was in flight', async () => {
        const { policy, clock } = makePolicy();
        await store.recordBatch([offence('203.0.113.7', 'sshd')], policy, 'alertmanager');
        const inFlight = await store.claimPending('web1', 10, clock.now);
        clock.now += 5 * MINUTE;
        const [extended] = (await store.recordBatch([offence('203.0.113.7', 'sshd')], policy, 'alertmanager'))
          .outcomes;
        expect(extended!.outcome).toBe('extended');
        await store.markApplied(inFlight, clock.now);
        await store.markFailed(inFlight, 'late failure', clock.now + HOUR);
        const again = await store.claimPending('web1', 10, clock.now);
        expect(again).toHaveLength(1);
        expect(again[0]!.version).toBeGreaterThan(inFlight[0]!.version);
        expect(again[0]!.expiresAt).toBe(clock.now + 10 * MINUTE);
        expect(again[0]!.attempts).toBe(0);
        await store.markApplied(again, clock.now);
        expect(await store.claimPending('web1', 10, clock.now)).toEqual([]);
      });

      it('limits a claim and returns the oldest due rows first', async () => {
        const { policy, clock } = makePolicy();
        for (let i = 1; i <= 5; i++) {
          await store.recordBatch([offence(`203.0.113.${i}`, 'sshd')], policy, 'alertmanager');
          clock.now += 1;
        }
        const first = await store.claimPending('web1', 3, clock.now);
        expect(first.map((i) => i.ip)).toEqual(['203.0.113.1', '203.0.113.2', '203.0.113.3']);
        await store.markApplied(first, clock.now);
        expect((await store.claimPending('web1', 3, clock.now)).map((i) => i.ip)).toEqual([
          '203.0.113.4',
          '203.0.113.5',
        ]);
      });

      it('sends an unban as absent, but keeps the address while another jail still bans it', async () => {
        const { policy, clock } = makePolicy();
        await store.recordBatch([offence('203.0.113.7', 'sshd')], policy, 'alertmanager');
        await store.recordBatch([offence('203.0.113.7', 'nginx')], policy, 'alertmanager');
        // Both rows describe one element: the longer ban's expiry wins.
        const both = await store.claimPending('web1', 10, clock.now);
        expect(both.map((i) => [i.jail, i.desired, i.expiresAt])).toEqual([
          ['sshd', 'present', T0 + HOUR],
          ['nginx', 'present', T0 + HOUR],
        ]);
        await store.markApplied(both, clock.now);
        await store.unban('203.0.113.7', { jail: 'nginx', actor: 'a', now: clock.now });
        const afterOne = await store.claimPending('web1', 10, clock.now);
        expect(afterOne.map((i) => [i.jail, i.desired, i.expiresAt])).toEqual([
          ['nginx', 'present', T0 + 10 * MINUTE],
        ]);
        await store.markApplied(afterOne, clock.now);
        await store.unban('203.0.113.7', { actor: 'a', now: clock.now });
        const afterAll = await store.claimPending('web1', 10, clock.now);
        expect(afterAll.map((i) => [i.jail, i.desired, i.expiresAt])).toEqual([['sshd', 'absent', null]]);
      });

      it('settles rows whose ban expired before it reached the host', async () => {
        const { policy, clock } = makePolicy();
        await store.recordBatch([offence('203.0.113.7', 'sshd')], policy, 'alertmanager');
        clock.now += 11 * MINUTE;
        expect(await store.claimPending('web1', 10, clock.now)).toEqual([]);
        expect(await store.pendingHosts(clock.now)).not.toContain('web1');
      });

      it('lists what each host should hold right now', async () => {
        const { policy, clock } = makePolicy();
        await store.recordBatch([offence('203.0.113.1', 'sshd')], policy, 'alertmanager');
        await store.recordBatch([offence('203.0.113.1', 'nginx')], policy, 'alertmanager');
        await store.recordBatch([offence('203.0.113.2', 'perm')], policy, 'alertmanager');
        await store.recordBatch(
          [offence('203.0.113.3', 'web', { originHost: 'web2' })],
          policy,
          'alertmanager',
        );
        await store.recordBatch([offence('203.0.113.4', 'sshd')], policy, 'alertmanager');
        await store.unban('203.0.113.4', { actor: 'a', now: clock.now });
        const web1 = await store.desiredForHost('web1', clock.now);
        expect(web1.sort((a, b) => a.ip.localeCompare(b.ip))).toEqual([
          { ip: '203.0.113.1', jail: 'nginx', expiresAt: T0 + HOUR },
          { ip: '203.0.113.2', jail: 'perm', expiresAt: null },
        ]);
        expect((await store.desiredForHost('web2', clock.now)).map((e) => e.ip).sort()).toEqual([
          '203.0.113.1',
          '203.0.113.2',
          '203.0.113.3',
        ]);
        clock.now += 2 * HOUR;
        expect(await store.desiredForHost('web1', clock.now)).toEqual([
          { ip: '203.0.113.2', jail: 'perm', expiresAt: null },
        ]);
      });
    });

    describe('reading', () => {
      it('filters bans by active, jail, ip, host, time and limit', async () => {
        const { policy, clock } = makePolicy();
        await store.recordBatch([offence('203.0.113.1', 'sshd')], policy, 'alertmanager');
        clock.now += HOUR;
        await store.recordBatch([offence('203.0.113.2', 'nginx')], policy, 'alertmanager');
        await store.recordBatch(
          [offence('203.0.113.3', 'web', { originHost: 'web2' })],
          policy,
          'alertmanager',
        );
        const ips = (bans: { ip: string }[]) => bans.map((b) => b.ip);
        expect(ips(await store.listBans({}, clock.now))).toEqual([
          '203.0.113.3',
          '203.0.113.2',
          '203.0.113.1',
        ]);
        expect(ips(await store.listBans({ active: true }, clock.now))).toEqual([
          '203.0.113.3',
          '203.0.113.2',
        ]);
        expect(ips(await store.listBans({ active: false }, clock.now))).toEqual(['203.0.113.1']);
        expect(ips(await store.listBans({ jail: 'nginx' }, clock.now))).toEqual(['203.0.113.2']);
        expect(ips(await store.listBans({ ip: '203.0.113.1' }, clock.now))).toEqual(['203.0.113.1']);
        expect(ips(await store.listBans({ host: 'web1' }, clock.now))).toEqual([
          '203.0.113.2',
          '203.0.113.1',
        ]);
        expect(ips(await store.listBans({ from: T0 + 1, to: clock.now + 1 }, clock.now))).toHaveLength(2);
        expect(ips(await store.listBans({ limit: 1 }, clock.now))).toEqual(['203.0.113.3']);
        expect(await store.getBan(999_999)).toBeUndefined();
      });

      it('computes stats: series, top ips and prefixes, per jail and per host', async () => {
        const { policy, clock } = makePolicy();
        await store.recordBatch([offence('203.0.113.1', 'sshd')], policy, 'alertmanager');
        await store.recordBatch([offence('203.0.113.2', 'sshd')], policy, 'alertmanager');
        await store.recordBatch([offence('2001:db8:1:2::7', 'nginx')], policy, 'alertmanager');
        clock.now += 2 * HOUR;
        await store.recordBatch([offence('203.0.113.1', 'sshd')], policy, 'alertmanager');
        await store.recordBatch(
          [offence('2001:db8:1:2::8', 'web', { originHost: 'web2' })],
          policy,
          'alertmanager',
        );
        const stats = await store.stats({ from: T0, to: T0 + 3 * HOUR, bucketMs: HOUR }, clock.now);
        expect(stats.series).toEqual([
          { time: T0, jail: 'nginx', bans: 1 },
          { time: T0, jail: 'sshd', bans: 2 },
          { time: T0 + 2 * HOUR, jail: 'sshd', bans: 1 },
          { time: T0 + 2 * HOUR, jail: 'web', bans: 1 },
        ]);
        expect(stats.topIps[0]).toEqual({ ip: '203.0.113.1', bans: 2, lastBanAt: T0 + 2 * HOUR });
        expect(stats.topIps).toHaveLength(4);
        expect(stats.topPrefixes).toEqual([
          { prefix: '203.0.113.0/24', bans: 3 },
          { prefix: '2001:db8:1:2::/64', bans: 2 },
        ]);
        expect(stats.perJail).toEqual([
          { jail: 'sshd', bans: 3, active: 1 },
          { jail: 'web', bans: 1, active: 1 },
          { jail: 'nginx', bans: 1, active: 0 },
        ]);
        expect(stats.perHost).toEqual([
          { host: 'web2', bans: 5, active: 2 },
          { host: 'mail', bans: 4, active: 1 },
          { host: 'web1', bans: 4, active: 1 },
        ]);
        const empty = await store.stats({ from: T0 - DAY, to: T0, bucketMs: HOUR }, clock.now);
        expect(empty.series).toEqual([]);
        expect(empty.topIps).toEqual([]);
      });

      it('pages the audit trail by id and filters it by ip', async () => {
        const { policy, clock } = makePolicy();
        await store.recordBatch([offence('203.0.113.1', 'sshd')], policy, 'alertmanager');
        await store.recordBatch([offence('203.0.113.2', 'sshd')], policy, 'grafana');
        await store.recordBatch([offence('192.0.2.1', 'sshd')], policy, 'alertmanager');
        await store.unban('203.0.113.1', { actor: 'alice', now: clock.now });
        const latest = await store.listAudit({});
        expect(latest.map((e) => e.kind)).toEqual(['unban', 'ignored', 'ban', 'ban']);
        expect(latest[2]).toMatchObject({ actor: 'grafana', ip: '203.0.113.2', jail: 'sshd', at: T0 });
        expect(latest[2]!.detail).toMatchObject({ level: 0, hosts: ['web1', 'web2', 'mail'] });
        const oldest = latest[3]!.id;
        expect((await store.listAudit({ after: oldest, limit: 2 })).map((e) => e.kind)).toEqual([
          'ban',
          'ignored',
        ]);
        expect((await store.listAudit({ ip: '203.0.113.1' })).map((e) => e.kind)).toEqual(['unban', 'ban']);
        expect(await store.listAudit({ limit: 1 })).toHaveLength(1);
      });
    });

    describe('leases and health', () => {
      it('grants a lease to one owner until it expires or is released', async () => {
        expect(await store.acquireLease('dispatcher', 'a', 10_000, T0)).toBe(true);
        expect(await store.acquireLease('dispatcher', 'a', 10_000, T0 + 5000)).toBe(true);
        expect(await store.acquireLease('dispatcher', 'b', 10_000, T0 + 5000)).toBe(false);
        expect(await store.acquireLease('reconciler', 'b', 10_000, T0 + 5000)).toBe(true);
        expect(await store.acquireLease('dispatcher', 'b', 10_000, T0 + 15_000)).toBe(true);
        await store.releaseLease('dispatcher', 'a');
        expect(await store.acquireLease('dispatcher', 'a', 10_000, T0 + 16_000)).toBe(false);
        await store.releaseLease('dispatcher', 'b');
        expect(await store.acquireLease('dispatcher', 'a', 10_000, T0 + 16_000)).toBe(true);
        await expect(store.ping()).resolves.toBeUndefined();
      });
    });

    describe('atomicity and durability', () => {
      it('leaves nothing of a batch behind when it fails part-way', async () => {
        const { policy: base, clock } = makePolicy();
        let calls = 0;
        const failing: DecisionPolicy = {
          ...base,
          targetsFor: (jail, origin) => {
            calls += 1;
            if (calls === 3) throw new Error('simulated failure on item 3');
            return base.targetsFor(jail, origin);
          },
        };
        const batch = [1, 2, 3, 4, 5].map((i) => at(offence(`203.0.113.${i}`, 'sshd'), i - 1));
        await expect(
          store.recordBatch(batch, failing, 'alertmanager').then((result) => result.outcomes),
        ).rejects.toThrow('simulated failure');
        expect(await store.listBans({}, clock.now)).toEqual([]);
        expect(await store.listAudit({})).toEqual([]);
        expect(await store.pendingHosts(clock.now)).toEqual([]);
        // The sender retries the same batch: it is decided afresh, not treated as a duplicate.
        const retried = (await store.recordBatch(batch, base, 'alertmanager')).outcomes;
        expect(retried.map((r) => r.outcome)).toEqual(['banned', 'banned', 'banned', 'banned', 'banned']);
      });

      it('keeps every acknowledged decision across a close and reopen', async (context) => {
        if (!fixture.reopen) {
          context.skip();
          return;
        }
        const { policy, clock } = makePolicy();
        const first = offence('203.0.113.7', 'sshd');
        const [banned] = (await store.recordBatch([first], policy, 'alertmanager')).outcomes;
        await store.recordBatch([offence('203.0.113.8', 'perm')], policy, 'alertmanager');
        const applied = await store.claimPending('web1', 10, clock.now);
        await store.markApplied(applied, clock.now);
        await store.unban('203.0.113.8', { actor: 'alice', now: clock.now });
        const before = await store.listBans({}, clock.now);
        const auditBefore = await store.listAudit({});

        store = await fixture.reopen();
        expect(await store.listBans({}, clock.now)).toEqual(before);
        expect(await store.listAudit({})).toEqual(auditBefore);
        const [repeat] = (await store.recordBatch([first], policy, 'alertmanager')).outcomes;
        expect(repeat).toMatchObject({ outcome: 'duplicate', banId: banned!.banId });
        expect((await store.claimPending('web1', 10, clock.now)).map((i) => [i.ip, i.desired])).toEqual([
          ['203.0.113.8', 'absent'],
        ]);
      });
    });
  });
}
