import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.js';
import { buildDecisionPolicy } from '../../config/policy.js';
import type { DecisionPolicy } from '../../domain/policy.js';
import type { BatchItem } from '../../domain/types.js';
import { SqliteStore } from './store.js';

const T0 = Date.UTC(2026, 10, 27, 8, 0, 0);
const CONFIG = parseConfig(
  `
auth: { webhook: { bearer: "group-test-token-0123456" } }
jails: { sshd: { bantime: 1h } }
hosts: [ { name: web1, address: 198.51.100.1 }, { name: web2, address: 198.51.100.2 } ]
`,
  {},
);
const policy = buildDecisionPolicy(CONFIG, { localAddresses: [], now: () => T0, random: () => 0 });

function offence(n: number, index = 0): BatchItem {
  const ip = `203.0.113.${n}`;
  return {
    kind: 'offence',
    index,
    offence: {
      fingerprint: `group-${n}`,
      startsAt: T0 - 60_000,
      jail: 'sshd',
      ip,
      reportedIp: ip,
      source: 'alertmanager',
      labels: {},
      receivedAt: T0,
    },
  };
}

const stores: SqliteStore[] = [];
const dirs: string[] = [];
async function openStore(): Promise<{ store: SqliteStore; file: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'lkb-store-group-'));
  dirs.push(dir);
  const file = join(dir, 'group.db');
  const store = new SqliteStore(file);
  await store.init();
  stores.push(store);
  return { store, file };
}

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Frames in the WAL: a commit appends every page it changed, so N commits of similar batches write ~N times more. */
function walFrames(file: string): number {
  const db = new Database(file);
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ log: number }>;
    return row!.log;
  } finally {
    db.close();
  }
}

function truncateWal(file: string): void {
  const db = new Database(file);
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

describe('SqliteStore group commit', () => {
  it('commits concurrent batches together, in call order, each with its own outcomes', async () => {
    const { store, file } = await openStore();
    truncateWal(file);
    const grouped = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        store.recordBatch([offence(i + 1)], policy, 'alertmanager').then((result) => result.outcomes),
      ),
    );
    const groupedFrames = walFrames(file);
    expect(grouped.map(([outcome]) => outcome!.outcome)).toEqual(Array(8).fill('banned'));
    // Call order is commit order: ban ids follow the calls.
    const ids = grouped.map(([outcome]) => outcome!.banId!);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(grouped.map(([outcome]) => outcome!.ip)).toEqual(
      Array.from({ length: 8 }, (_, i) => `203.0.113.${i + 1}`),
    );

    truncateWal(file);
    for (let i = 0; i < 8; i++) await store.recordBatch([offence(i + 21)], policy, 'alertmanager');
    const sequentialFrames = walFrames(file);
    // One commit writes each changed page once; eight commits write them eight times.
    expect(groupedFrames * 3).toBeLessThan(sequentialFrames);
  });

  it('recognises a duplicate of an offence recorded earlier in the same group', async () => {
    const { store } = await openStore();
    const [first, second] = await Promise.all([
      store.recordBatch([offence(1)], policy, 'alertmanager').then((result) => result.outcomes),
      store
        .recordBatch([offence(1), offence(2, 1)], policy, 'alertmanager')
        .then((result) => result.outcomes),
    ]);
    expect(first![0]).toMatchObject({ outcome: 'banned' });
    expect(second![0]).toMatchObject({ outcome: 'duplicate', banId: first![0]!.banId });
    expect(second![1]).toMatchObject({ outcome: 'banned' });
    expect(await store.listBans({}, T0)).toHaveLength(2);
  });

  it('rolls back a failing batch alone: the others commit, and its alerts are decided on redelivery', async () => {
    const { store } = await openStore();
    const failing: DecisionPolicy = {
      ...policy,
      targetsFor: () => {
        throw new Error('targets unavailable');
      },
    };
    const results = await Promise.allSettled([
      store.recordBatch([offence(1)], policy, 'alertmanager').then((result) => result.outcomes),
      // Its first alert is written before the second throws: both must disappear.
      store
        .recordBatch(
          [offence(3), offence(2, 1)],
          { ...policy, targetsFor: failingAfterFirst() },
          'alertmanager',
        )
        .then((result) => result.outcomes),
      store.recordBatch([offence(4)], failing, 'alertmanager').then((result) => result.outcomes),
      store.recordBatch([offence(5)], policy, 'alertmanager').then((result) => result.outcomes),
    ]);
    expect(results.map((result) => result.status)).toEqual([
      'fulfilled',
      'rejected',
      'rejected',
      'fulfilled',
    ]);
    expect((results[1] as PromiseRejectedResult).reason).toEqual(new Error('targets unavailable'));
    const bans = await store.listBans({}, T0);
    expect(bans.map((ban) => ban.ip).sort()).toEqual(['203.0.113.1', '203.0.113.5']);
    const audit = await store.listAudit({});
    expect(audit.map((event) => event.ip).sort()).toEqual(['203.0.113.1', '203.0.113.5']);
    // Nothing of the failed batches was kept: the same alerts are new offences, not duplicates.
    const again = (
      await store.recordBatch([offence(3), offence(2, 1), offence(4, 2)], policy, 'alertmanager')
    ).outcomes;
    expect(again.map((outcome) => outcome.outcome)).toEqual(['banned', 'banned', 'banned']);
  });

  it('keeps call order with the other methods: a read after an unawaited batch sees it', async () => {
    const { store } = await openStore();
    const pending = store.recordBatch([offence(1)], policy, 'alertmanager').then((result) => result.outcomes);
    const bans = await store.listBans({}, T0);
    expect(bans.map((ban) => ban.ip)).toEqual(['203.0.113.1']);
    const unban = store.unban('203.0.113.1', { actor: 'ops', now: T0 + 1 }).then((result) => result.bans);
    const [outcome] = await pending;
    expect(outcome).toMatchObject({ outcome: 'banned', banId: bans[0]!.id });
    expect((await unban).map((ban) => ban.liftedAt)).toEqual([T0 + 1]);
  });

  it('answers a batch of known duplicates without the write lock', async () => {
    const { store, file } = await openStore();
    const [first] = (await store.recordBatch([offence(1)], policy, 'alertmanager')).outcomes;
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE');
    try {
      const started = performance.now();
      const [again] = (await store.recordBatch([offence(1)], policy, 'alertmanager')).outcomes;
      // The busy timeout is 5 s: an answer well before it did not wait for the lock.
      expect(performance.now() - started).toBeLessThan(1000);
      expect(again).toEqual({ ...first, outcome: 'duplicate', level: undefined, until: undefined });
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
  });

  it('waits for the write lock when a batch holds a new offence', async () => {
    const { store, file } = await openStore();
    // Another process: SQLite's busy wait blocks this thread, so the holder cannot live here.
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const db = new (require('better-sqlite3'))(process.argv[1]);
         db.exec('BEGIN IMMEDIATE');
         process.stdout.write('locked');
         setTimeout(() => { db.exec('ROLLBACK'); db.close(); }, 400);`,
        file,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
      const started = performance.now();
      const [outcome] = (await store.recordBatch([offence(1)], policy, 'alertmanager')).outcomes;
      expect(outcome).toMatchObject({ outcome: 'banned' });
      expect(performance.now() - started).toBeGreaterThanOrEqual(300);
    } finally {
      holder.kill('SIGKILL');
    }
  });
});

describe('SqliteStore.activeBansPerJail', () => {
  it('counts what stats reports as active: lifted and expired bans are left out', async () => {
    const { store } = await openStore();
    await store.recordBatch([offence(1), offence(2, 1), offence(3, 2)], policy, 'alertmanager');
    await store.unban('203.0.113.2', { actor: 'ops', now: T0 + 1 });
    expect(await store.activeBansPerJail(T0 + 2)).toEqual([{ jail: 'sshd', active: 2 }]);
    const stats = await store.stats({ from: T0, to: T0, bucketMs: 3_600_000 }, T0 + 2);
    expect(stats.perJail.map(({ jail, active }) => ({ jail, active }))).toEqual(
      await store.activeBansPerJail(T0 + 2),
    );
    // bantime is 1h: an hour later nothing is in force.
    expect(await store.activeBansPerJail(T0 + 3_600_001)).toEqual([]);
  });
});

/** targetsFor that answers once, then throws: the batch fails after it wrote its first ban. */
function failingAfterFirst(): DecisionPolicy['targetsFor'] {
  let calls = 0;
  return (jail, origin) => {
    calls += 1;
    if (calls > 1) throw new Error('targets unavailable');
    return policy.targetsFor(jail, origin);
  };
}
