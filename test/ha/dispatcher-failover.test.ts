import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../src/store/postgres/store.js';
import { createTestSchema, postgresTestUrl, type TestSchema } from '../support/postgres.js';
import { attackerIp, haPolicy, offence } from './fixtures.js';

const baseUrl = postgresTestUrl();
const WORKER = fileURLToPath(new URL('./dispatcher-replica.ts', import.meta.url));
const BANS = 300;
// The dispatcher's per-host lease ttl with commandTimeout 1 s: command timeout + 10 s.
const LEASE_TTL_MS = 11_000;

async function until(condition: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function startReplica(url: string, log: string): Promise<ChildProcess> {
  const child = fork(WORKER, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, LKB_HA_URL: url, LKB_HA_LOG: log },
  });
  const [message] = await once(child, 'message');
  if (message !== 'ready') throw new Error(`replica sent ${String(message)}`);
  return child;
}

/**
 * lokiban's own Dispatcher in two replica processes on one Postgres. The replica draining the
 * outbox is SIGKILLed in the middle of a burst; the other takes the hosts' leases when they expire
 * and finishes. Each (host, address) reaches the host once, except what the dead replica had sent
 * in its last batch per host without recording it.
 */
describe.skipIf(!baseUrl)('dispatcher failover between replicas', () => {
  let schema: TestSchema;
  let dir: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    schema = await createTestSchema(baseUrl!, 'lkb_ha_dispatch');
    dir = mkdtempSync(join(tmpdir(), 'lkb-pg-dispatch-'));
  });

  afterAll(async () => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await schema?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('finishes a burst on the surviving replica, sending each ban once', async () => {
    const log = join(dir, 'applied.log');
    writeFileSync(log, '');
    // Both replicas run before the burst arrives, as they would in production.
    const replicas = await Promise.all([startReplica(schema.url, log), startReplica(schema.url, log)]);
    children.push(...replicas);

    const seeder = new PostgresStore(schema.url);
    await seeder.init();
    const now = Date.now();
    await seeder.recordBatch(
      Array.from({ length: BANS }, (_, n) => ({
        kind: 'offence' as const,
        index: n,
        offence: offence(attackerIp(n), now - 1000, 'burst'),
      })),
      haPolicy(now),
      'alertmanager',
    );
    await seeder.close();

    // A few batches in (each host's drain takes 60 of them), kill whoever is draining web1.
    await until(() => readFileSync(log, 'utf8').split('\n').length > 10, 20_000);
    const drainingWeb1 = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .filter((line) => line.split(' ')[2] === 'web1')
      .at(-1)
      ?.split(' ')[1];
    const first = replicas.find((child) => `replica-${child.pid}` === drainingWeb1)!;
    const second = replicas.find((child) => child !== first)!;
    first.kill('SIGKILL');
    await once(first, 'exit');
    const killedAt = Date.now();

    const db = new pg.Client({ connectionString: schema.url });
    await db.connect();
    try {
      await until(async () => {
        const { rows } = await db.query(
          `SELECT count(*)::int AS n FROM ban_targets WHERE state <> 'applied'`,
        );
        return rows[0].n === 0;
      }, LEASE_TTL_MS + 30_000);
    } finally {
      await db.end();
    }
    // The survivor had to wait for the dead replica's leases: bounded by their ttl.
    expect(Date.now() - killedAt).toBeLessThan(LEASE_TTL_MS + 15_000);

    const dead = `replica-${first.pid}`;
    const survivor = `replica-${second.pid}`;
    const sent = new Map<string, string[]>();
    const lastBatchOfDead = new Map<string, string[]>();
    const survivorStarted = new Set<string>();
    for (const line of readFileSync(log, 'utf8').trim().split('\n')) {
      const [, owner, host, ips] = line.split(' ') as [string, string, string, string];
      // One replica per host at a time: the survivor only starts on a host after the dead one stopped.
      if (owner === survivor) survivorStarted.add(host);
      else expect(survivorStarted.has(host)).toBe(false);
      const list = ips ? ips.split(',') : [];
      if (owner === dead) lastBatchOfDead.set(host, list);
      for (const ip of list) sent.set(`${host} ${ip}`, [...(sent.get(`${host} ${ip}`) ?? []), owner]);
    }
    for (let n = 0; n < BANS; n++) {
      for (const host of ['web1', 'web2']) expect(sent.has(`${host} ${attackerIp(n)}`)).toBe(true);
    }
    const owners = new Set([...sent.values()].flat());
    expect(owners).toEqual(new Set([dead, survivor]));
    for (const [key, by] of sent) {
      if (by.length === 1) continue;
      const [host, ip] = key.split(' ') as [string, string];
      expect(by).toEqual([dead, survivor]);
      expect(lastBatchOfDead.get(host)).toContain(ip);
    }
  }, 120_000);
});
