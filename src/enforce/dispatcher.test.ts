import { describe, expect, it } from 'vitest';
import { MemoryOutbox } from '../../test/support/memory-outbox.js';
import { enforcementSchema, hostSchema } from '../config/schema.js';
import { brakes, Dispatcher, RECONCILE_BRAKE_FLOOR } from './dispatcher.js';
import type { EnforcementBatch, Enforcer, PresentElement } from './port.js';

const hosts = ['web1', 'web2', 'web3'].map((name) => hostSchema.parse({ name, address: `${name}.example` }));
const settings = enforcementSchema.parse({ retryMin: 1, retryMax: 4, reconcileInterval: 0 });
const silent = { info() {}, warn() {}, error() {}, debug() {} };

/** A firewall per host kept in memory; a host can be made to fail or to hang. */
class FakeFleet implements Enforcer {
  readonly sets = new Map<string, Map<string, number | null>>();
  readonly batches: Array<{ host: string; batch: EnforcementBatch }> = [];
  down = new Set<string>();
  slow = new Map<string, Promise<void>>();

  async apply(host: { name: string }, batch: EnforcementBatch) {
    await this.slow.get(host.name);
    if (this.down.has(host.name)) throw new Error(`host "${host.name}": connection refused`);
    this.batches.push({ host: host.name, batch });
    const set = this.sets.get(host.name) ?? new Map();
    for (const r of batch.remove) set.delete(r.ip);
    for (const a of batch.add) set.set(a.ip, a.timeoutSeconds);
    this.sets.set(host.name, set);
    return { commands: [] };
  }

  async list(host: { name: string }): Promise<PresentElement[]> {
    if (this.down.has(host.name)) throw new Error(`host "${host.name}": connection refused`);
    return [...(this.sets.get(host.name) ?? new Map()).entries()].map(([ip, t]) => ({
      ip,
      family: 4,
      timeoutSeconds: t,
    }));
  }

  async close() {}
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function setup(now = () => Date.now()) {
  const store = new MemoryOutbox();
  const fleet = new FakeFleet();
  const dispatcher = new Dispatcher({
    store,
    enforcer: fleet,
    hosts,
    settings,
    logger: silent,
    owner: 't',
    now,
  });
  return { store, fleet, dispatcher };
}

describe('Dispatcher', () => {
  it('applies bans and unbans on every target, one batch per host', async () => {
    const { store, fleet, dispatcher } = setup();
    dispatcher.start();
    await dispatcher.reconcileAll();
    const ids = Array.from({ length: 50 }, (_, i) =>
      store.ban(['web1', 'web2'], `203.0.113.${i + 1}`, 'sshd', Date.now() + 600_000),
    );
    dispatcher.notify(['web1', 'web2']);
    await until(() => fleet.sets.get('web1')?.size === 50 && fleet.sets.get('web2')?.size === 50);
    expect(fleet.sets.get('web3')).toBeUndefined();
    expect(fleet.batches.filter((b) => b.batch.add.length > 0 && b.host === 'web1')).toHaveLength(1);
    expect(store.rows.every((r) => r.state === 'applied')).toBe(true);

    store.unban(ids[0]!);
    dispatcher.notify(['web1', 'web2']);
    await until(() => fleet.sets.get('web1')?.size === 49 && fleet.sets.get('web2')?.size === 49);
    expect(fleet.sets.get('web1')?.has('203.0.113.1')).toBe(false);
    await dispatcher.stop();
  });

  it('keeps a second jail’s ban when the first is lifted', async () => {
    const { store, fleet, dispatcher } = setup();
    dispatcher.start();
    const a = store.ban(['web1'], '203.0.113.9', 'sshd', Date.now() + 60_000);
    store.ban(['web1'], '203.0.113.9', 'nginx-http-auth', Date.now() + 3_600_000);
    dispatcher.notify();
    await until(() => store.rows.every((r) => r.state === 'applied'));
    store.unban(a);
    dispatcher.notify();
    await until(() => store.rows.every((r) => r.state === 'applied'));
    expect(fleet.sets.get('web1')?.get('203.0.113.9')).toBeGreaterThan(3500);
    await dispatcher.stop();
  });

  it('never lets a down or hanging host delay the others, and catches up when it returns', async () => {
    const { store, fleet, dispatcher } = setup();
    fleet.down.add('web2');
    let release!: () => void;
    fleet.slow.set('web3', new Promise((r) => (release = r)));
    dispatcher.start();
    for (let i = 1; i <= 20; i++)
      store.ban(['web1', 'web2', 'web3'], `198.51.100.${i}`, 'sshd', Date.now() + 600_000);
    const started = Date.now();
    dispatcher.notify();
    await until(() => fleet.sets.get('web1')?.size === 20);
    expect(Date.now() - started).toBeLessThan(500);
    await until(() => dispatcher.status().find((s) => s.name === 'web2')?.state === 'down');
    const web2 = dispatcher.status().find((s) => s.name === 'web2')!;
    expect(web2.lastError).toMatch(/connection refused/);
    expect(web2.queueDepth).toBe(20);
    expect(dispatcher.status().find((s) => s.name === 'web1')).toMatchObject({ state: 'up', queueDepth: 0 });
    expect(
      store.rows
        .filter((r) => r.host === 'web2')
        .every((r) => r.state === 'failed' && r.nextAttemptAt > started),
    ).toBe(true);

    fleet.down.delete('web2');
    release();
    // The retry is due after the backoff (1 s ± jitter); the poll picks it up.
    await until(() => fleet.sets.get('web2')?.size === 20 && fleet.sets.get('web3')?.size === 20, 4000);
    expect(dispatcher.status().find((s) => s.name === 'web2')).toMatchObject({
      state: 'up',
      lastError: null,
    });
    await dispatcher.stop();
  });

  it('gives each failed row its own jittered retry time, so rows that failed together come due apart', async () => {
    const { store, fleet, dispatcher } = setup();
    fleet.down.add('web1');
    let seed = 1;
    const random = () => {
      seed = (seed * 16_807) % 2_147_483_647;
      return seed / 2_147_483_647;
    };
    const jittered = new Dispatcher({
      store,
      enforcer: fleet,
      hosts,
      settings: enforcementSchema.parse({ retryMin: 60, retryMax: 600, reconcileInterval: 0 }),
      logger: silent,
      owner: 't',
      random,
    });
    for (let i = 1; i <= 40; i++) store.ban(['web1'], `203.0.113.${i}`, 'sshd', Date.now() + 600_000);
    jittered.start();
    jittered.notify(['web1']);
    await until(() => store.rows.every((r) => r.state === 'failed'));
    await jittered.stop();
    await dispatcher.stop();
    const times = new Set(store.rows.map((r) => r.nextAttemptAt));
    // 60 s × [0.75, 1.25) in whole seconds: 30 possible times, 40 rows.
    expect(times.size).toBeGreaterThan(10);
    for (const at of times) expect(at % 1000).toBe(0);
  });

  it('sets aside rows no command can carry and applies the rest of their batch', async () => {
    const { store, fleet, dispatcher } = setup();
    dispatcher.start();
    store.ban(['web1'], '203.0.113.1', 'sshd', Date.now() + 600_000);
    store.ban(['web1'], '0.0.0.0/1', 'manual', Date.now() + 600_000);
    store.ban(['web1'], '203.0.113.2', 'Bad Jail', Date.now() + 600_000);
    dispatcher.notify(['web1']);
    await until(() => fleet.sets.get('web1')?.size === 1);
    await until(() => store.rows.every((r) => r.state !== 'pending'));
    expect(dispatcher.status()[0]).toMatchObject({
      state: 'up',
      setAside: {
        count: 2,
        examples: [
          { ip: '0.0.0.0/1', reason: 'refusing "0.0.0.0/1": prefix /1 is too wide to ban' },
          { ip: '203.0.113.2', reason: expect.stringMatching(/^refusing jail "Bad Jail"/) },
        ],
      },
    });
    expect(store.rows.map((r) => r.state)).toEqual(['applied', 'failed', 'failed']);
    await dispatcher.stop();
  });

  it('re-sends a row that changed while its batch was in flight', async () => {
    const { store, fleet, dispatcher } = setup();
    let release!: () => void;
    fleet.slow.set('web1', new Promise((r) => (release = r)));
    dispatcher.start();
    const id = store.ban(['web1'], '203.0.113.5', 'sshd', Date.now() + 60_000);
    dispatcher.notify(['web1']);
    await until(() => store.rows[0]!.version === 1);
    await new Promise((r) => setTimeout(r, 20));
    store.extend(id, Date.now() + 7_200_000);
    release();
    fleet.slow.delete('web1');
    dispatcher.notify(['web1']);
    await until(
      () => store.rows[0]!.state === 'applied' && (fleet.sets.get('web1')?.get('203.0.113.5') ?? 0) > 7000,
    );
    await dispatcher.stop();
  });

  it('sends each ban once on first contact: the start-up reconcile settles the rows it carried', async () => {
    const { store, fleet, dispatcher } = setup();
    for (let i = 1; i <= 200; i++)
      store.ban(['web1', 'web2'], `198.51.${100 + (i >> 8)}.${i & 255}`, 'sshd', Date.now() + 600_000);
    dispatcher.start();
    await until(() => store.rows.every((r) => r.state === 'applied'));
    await dispatcher.stop();
    for (const host of ['web1', 'web2']) {
      const sent = fleet.batches.filter((b) => b.host === host).flatMap((b) => b.batch.add.map((e) => e.ip));
      expect(sent).toHaveLength(200);
      expect(new Set(sent).size).toBe(200);
      expect(fleet.sets.get(host)?.size).toBe(200);
    }
  });

  it('re-sends a row that changed while the reconcile carrying it was in flight', async () => {
    const { store, fleet, dispatcher } = setup();
    const id = store.ban(['web1'], '203.0.113.7', 'sshd', Date.now() + 60_000);
    let release!: () => void;
    fleet.slow.set('web1', new Promise((r) => (release = r)));
    const reconciled = dispatcher.reconcile('web1');
    await new Promise((r) => setTimeout(r, 20));
    store.extend(id, Date.now() + 7_200_000);
    release();
    fleet.slow.delete('web1');
    await reconciled;
    expect(store.rows[0]).toMatchObject({ state: 'pending', version: 2 });
    dispatcher.start();
    await until(
      () => store.rows[0]!.state === 'applied' && (fleet.sets.get('web1')?.get('203.0.113.7') ?? 0) > 7000,
    );
    await dispatcher.stop();
  });

  it('leaves the rows a failed reconcile carried to the retry backoff', async () => {
    const { store, fleet, dispatcher } = setup();
    store.ban(['web1'], '203.0.113.8', 'sshd', Date.now() + 60_000);
    const apply = fleet.apply.bind(fleet);
    fleet.apply = async () => {
      throw new Error('host "web1": connection reset');
    };
    const report = await dispatcher.reconcile('web1');
    expect(report.skipped).toMatch(/connection reset/);
    expect(store.rows[0]).toMatchObject({ state: 'failed', lastError: 'host "web1": connection reset' });
    fleet.apply = apply;
  });

  it('reconciles: re-adds missing, removes unknown, re-times drift, and reports it', async () => {
    const { store, fleet, dispatcher } = setup();
    store.ban(['web1'], '203.0.113.1', 'sshd', Date.now() + 600_000);
    store.ban(['web1'], '203.0.113.2', 'sshd', Date.now() + 600_000);
    for (const row of store.rows) row.state = 'applied';
    fleet.sets.set(
      'web1',
      new Map<string, number | null>([
        ['203.0.113.2', 5],
        ['192.0.2.77', 100],
      ]),
    );
    fleet.down.add('web3');
    const reports = await dispatcher.reconcileAll();
    expect(reports.find((r) => r.host === 'web1')).toEqual({
      host: 'web1',
      added: 1,
      removed: 1,
      retimed: 1,
    });
    expect(reports.find((r) => r.host === 'web3')?.skipped).toMatch(/connection refused/);
    expect([...fleet.sets.get('web1')!.keys()].sort()).toEqual(['203.0.113.1', '203.0.113.2']);
    expect(dispatcher.status().find((s) => s.name === 'web1')?.lastReconcile).toMatchObject({
      added: 1,
      removed: 1,
    });
    expect(dispatcher.status().find((s) => s.name === 'web3')?.state).toBe('down');
  });

  it('holds a reconcile that would strip most of a host until confirmed, still adding and unbanning', async () => {
    const errors: Array<Record<string, unknown>> = [];
    const store = new MemoryOutbox();
    const fleet = new FakeFleet();
    const dispatcher = new Dispatcher({
      store,
      enforcer: fleet,
      hosts,
      settings,
      logger: { ...silent, error: (fields: Record<string, unknown>) => errors.push(fields) },
      owner: 't',
    });
    // An old store's bans on the host; the store now knows only two of them and one new ban.
    const old = Array.from({ length: 100 }, (_, i) => `198.51.100.${i + 1}`);
    fleet.sets.set('web1', new Map(old.map((ip) => [ip, 3600])));
    const kept = store.ban(['web1'], old[0]!, 'sshd', Date.now() + 3_600_000);
    store.ban(['web1'], old[1]!, 'sshd', Date.now() + 3_600_000);
    store.ban(['web1'], '203.0.113.9', 'sshd', Date.now() + 3_600_000);

    const first = await dispatcher.reconcile('web1');
    expect(first).toMatchObject({ added: 1, removed: 0, held: 98 });
    expect(fleet.sets.get('web1')!.size).toBe(101);
    const held = dispatcher.status().find((s) => s.name === 'web1')!.reconcileHeld;
    expect(held).toMatchObject({ wouldRemove: 98, present: 100 });
    expect(errors).toEqual([{ host: 'web1', wouldRemove: 98, present: 100 }]);

    // Lokiban lifting its own ban is not the reconcile's removal: it goes at once.
    store.unban(kept);
    dispatcher.notify(['web1']);
    dispatcher.start();
    await until(() => !fleet.sets.get('web1')!.has(old[0]!));
    const again = await dispatcher.reconcile('web1');
    expect(again).toMatchObject({ removed: 0, held: 98 });
    expect(dispatcher.status().find((s) => s.name === 'web1')!.reconcileHeld?.since).toBe(held!.since);
    expect(errors).toHaveLength(1);

    await expect(dispatcher.confirmReconcile('web2')).rejects.toThrow('no reconcile removals are held');
    // A confirmation whose reconcile cannot run does not linger for a later one.
    fleet.down.add('web1');
    expect((await dispatcher.confirmReconcile('web1')).skipped).toMatch(/connection refused/);
    fleet.down.delete('web1');
    expect(await dispatcher.reconcile('web1')).toMatchObject({ removed: 0, held: 98 });
    const confirmed = await dispatcher.confirmReconcile('web1');
    expect(confirmed).toMatchObject({ removed: 98 });
    expect(confirmed.held).toBeUndefined();
    expect([...fleet.sets.get('web1')!.keys()].sort()).toEqual([old[1]!, '203.0.113.9']);
    expect(dispatcher.status().find((s) => s.name === 'web1')!.reconcileHeld).toBeNull();
    await dispatcher.stop();
  });

  it('repairs a small drift without holding it, and holds only past the share and the floor', async () => {
    expect(brakes(RECONCILE_BRAKE_FLOOR, RECONCILE_BRAKE_FLOOR)).toBe(false);
    expect(brakes(RECONCILE_BRAKE_FLOOR + 1, RECONCILE_BRAKE_FLOOR + 1)).toBe(true);
    expect(brakes(50, 100)).toBe(false);
    expect(brakes(51, 100)).toBe(true);
    const { store, fleet, dispatcher } = setup();
    const wanted = Array.from({ length: 30 }, (_, i) => `203.0.113.${i + 1}`);
    for (const ip of wanted) store.ban(['web1'], ip, 'sshd', Date.now() + 600_000);
    const extra = Array.from({ length: 25 }, (_, i) => `192.0.2.${i + 1}`);
    fleet.sets.set('web1', new Map([...wanted, ...extra].map((ip) => [ip, 600])));
    expect(await dispatcher.reconcile('web1')).toEqual({ host: 'web1', added: 0, removed: 25, retimed: 0 });
    expect([...fleet.sets.get('web1')!.keys()].sort()).toEqual([...wanted].sort());
  });

  it('never holds the removal of bans the store knows ended on the host (firewalld expiry)', async () => {
    const { store, fleet, dispatcher } = setup();
    const ended = Array.from({ length: 30 }, (_, i) => `203.0.113.${i + 1}`);
    const unknown = Array.from({ length: 5 }, (_, i) => `192.0.2.${i + 1}`);
    const asked: unknown[] = [];
    Object.assign(store, {
      async listBans(query: unknown) {
        asked.push(query);
        return ended.map((ip) => ({ ip }));
      },
    });
    fleet.sets.set('web1', new Map([...ended, ...unknown].map((ip) => [ip, null])));
    expect(await dispatcher.reconcile('web1')).toEqual({ host: 'web1', added: 0, removed: 35, retimed: 0 });
    expect(fleet.sets.get('web1')!.size).toBe(0);
    expect(asked).toEqual([{ host: 'web1', active: false, limit: 100_000 }]);

    // Unknown elements past the share are still held, the ended ones still go.
    const strangers = Array.from({ length: 40 }, (_, i) => `198.51.100.${i + 1}`);
    fleet.sets.set('web1', new Map([...ended, ...strangers].map((ip) => [ip, null])));
    expect(await dispatcher.reconcile('web1')).toMatchObject({ removed: 30, held: 40 });
    expect([...fleet.sets.get('web1')!.keys()].sort()).toEqual([...strangers].sort());
  });
});
