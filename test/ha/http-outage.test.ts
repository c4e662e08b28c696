import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TempCluster } from '../support/pg-cluster.js';
import { createTestSchema, postgresTestUrl } from '../support/postgres.js';
import { attackerIp } from './fixtures.js';
import { firing, Responder, writeReplicaConfig } from './responders.js';

// Crashes a private cluster of its own: the shared one stays up for the other suites.
const enabled = postgresTestUrl() !== undefined;

interface Sent {
  ip: string;
  alert: ReturnType<typeof firing>;
  status: number;
  ms: number;
}

describe.skipIf(!enabled)('Postgres restarted under load behind two lokiban serve processes', () => {
  let cluster: TempCluster;
  let url: string;
  let dir: string;
  let responders: Responder[] = [];

  beforeAll(async () => {
    cluster = await TempCluster.create();
    url = (await createTestSchema(cluster.url, 'lkb_ha_http_outage')).url;
    dir = mkdtempSync(join(tmpdir(), 'lkb-pg-http-outage-'));
    const config = writeReplicaConfig(dir, url);
    responders = await Promise.all([Responder.start(config), Responder.start(config)]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(responders.map((r) => r.stop()));
    await cluster?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('answers 503 while the database is down, recovers by itself, and loses no acknowledged ban', async () => {
    for (const r of responders) expect(await r.readyStatus()).toBe(200);
    const pids = responders.map((r) => r.child.pid);
    const startedAt = Date.now();
    const sent: Sent[] = [];
    let serial = 0;
    let loading = true;
    // Four senders, alternating replicas, one new attacker per delivery, as long as `loading`.
    const load = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (loading) {
          const n = serial++;
          const ip = attackerIp(n);
          const alert = firing(ip, startedAt, `outage-${n}`);
          const t0 = performance.now();
          const response = await responders[n % 2]!.webhook([alert]).catch(() => undefined);
          sent.push({ ip, alert, status: response?.status ?? 0, ms: performance.now() - t0 });
          await response?.arrayBuffer();
        }
      }),
    );

    await new Promise((resolve) => setTimeout(resolve, 500));
    await cluster.stop('immediate');
    const downAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const readyStarted = performance.now();
    const readyWhileDown = await Promise.all(responders.map((r) => r.readyStatus()));
    const readyMs = performance.now() - readyStarted;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await cluster.start();
    const upAt = Date.now();
    // Recovery without a restart: the same processes become ready again on their own.
    const deadline = Date.now() + 15_000;
    while ((await Promise.all(responders.map((r) => r.readyStatus()))).some((s) => s !== 200)) {
      if (Date.now() > deadline) throw new Error('responders did not become ready after the restart');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // Pooled connections that broke with the database reconnect one by one: keep the load on until 20
    // deliveries in a row succeed (bounded), however slowly a loaded machine gets there.
    const recovered = Date.now() + 10_000;
    while (!(sent.length >= 20 && sent.slice(-20).every((s) => s.status === 200)) && Date.now() < recovered) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    loading = false;
    await load;

    expect(readyWhileDown).toEqual([503, 503]);
    expect(readyMs).toBeLessThan(5000);
    expect(responders.map((r) => r.child.pid)).toEqual(pids);
    expect(responders.every((r) => r.child.exitCode === null)).toBe(true);

    const ok = sent.filter((s) => s.status === 200);
    const failed = sent.filter((s) => s.status !== 200);
    expect(ok.length).toBeGreaterThan(0);
    expect(failed.length).toBeGreaterThan(0);
    // A database outage is the sender's cue to retry: 503, never a 4xx and never a hang.
    expect(new Set(failed.map((s) => s.status))).toEqual(new Set([503]));
    expect(Math.max(...failed.map((s) => s.ms))).toBeLessThan(5000);
    // Deliveries after the recovery succeed again.
    expect(sent.slice(-20).every((s) => s.status === 200)).toBe(true);
    expect(upAt - downAt).toBeGreaterThan(1000);

    // Alertmanager retries what failed.
    for (const s of failed) {
      const response = await responders[0]!.webhook([s.alert]);
      expect(response.status).toBe(200);
      await response.arrayBuffer();
    }

    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      const { rows } = await db.query<{ ip: string; n: number }>(
        'SELECT ip, count(*)::int AS n FROM bans GROUP BY ip',
      );
      const bans = new Map(rows.map((row) => [row.ip, row.n]));
      // Every acknowledged ban survived the crash; after the retries every alert is banned once.
      for (const s of ok) expect(bans.get(s.ip)).toBe(1);
      expect(bans.size).toBe(sent.length);
      expect([...bans.values()].every((n) => n === 1)).toBe(true);
      // The replicas' dispatchers came back too: the outbox drains to the (dry-run) hosts. A row
      // claimed just before the crash waits out its claim (30 s) before it is sent again.
      const deadline = Date.now() + 60_000;
      for (;;) {
        const pending = await db.query(`SELECT count(*)::int AS n FROM ban_targets WHERE state <> 'applied'`);
        if (pending.rows[0].n === 0) break;
        if (Date.now() > deadline)
          throw new Error(`${pending.rows[0].n} outbox rows still pending after 60 s`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    } finally {
      await db.end();
    }
  }, 120_000);
});
