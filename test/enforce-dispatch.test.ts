import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enforcementSchema } from '../src/config/schema.js';
import { createEnforcement, type Enforcement } from '../src/enforce/index.js';
import { MemoryOutbox } from './support/memory-outbox.js';
import { createTestHost, type TestHost } from './support/netns.js';

async function until(check: () => boolean, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - started;
}

describe('dispatcher and reconciler against three namespace hosts over SSH', () => {
  const hosts: TestHost[] = [];
  const store = new MemoryOutbox();
  let enforcement: Enforcement;

  beforeAll(async () => {
    for (const name of ['web1', 'web2', 'web3']) hosts.push(await createTestHost({ name }));
    enforcement = createEnforcement(
      {
        transport: 'ssh',
        hosts: hosts.map((h) => h.config),
        enforcement: enforcementSchema.parse({
          retryMin: 1,
          retryMax: 2,
          flushInterval: 1,
          reconcileInterval: 0,
        }),
      },
      store,
      pino({ level: 'silent' }),
    );
    for (const host of hosts) await enforcement.enforcer.setup(host.config);
    enforcement.start();
  });

  afterAll(async () => {
    await enforcement?.stop();
    for (const host of hosts) await host.destroy();
  });

  const count = (host: TestHost) => host.list().length;

  it('fans bans out to every host and lifts them everywhere', async () => {
    const all = hosts.map((h) => h.config.name);
    const ids = Array.from({ length: 300 }, (_, i) =>
      store.ban(all, `203.0.${113 + Math.floor(i / 250)}.${(i % 250) + 1}`, 'sshd', Date.now() + 600_000),
    );
    enforcement.notify(all);
    await until(() => hosts.every((h) => count(h) === 300), 15_000);
    store.unban(ids[0]!);
    enforcement.notify(all);
    await until(() => hosts.every((h) => count(h) === 299), 10_000);
    expect(enforcement.status.hosts().map((s) => s.state)).toEqual(['up', 'up', 'up']);
  });

  it('keeps the other hosts at normal speed while one is down, then catches it up', async () => {
    const [web1, web2, web3] = hosts as [TestHost, TestHost, TestHost];
    await web2.stopSshd();
    web3.linkDown();
    const all = hosts.map((h) => h.config.name);
    const before = hosts.map(count);
    for (let i = 1; i <= 100; i++) store.ban(all, `198.51.100.${i}`, 'sshd', Date.now() + 600_000);
    enforcement.notify(all);
    const elapsed = await until(() => count(web1) === before[0]! + 100, 10_000);
    expect(elapsed).toBeLessThan(3000);
    await until(() => enforcement.status.hosts().find((s) => s.name === 'web2')?.state === 'down', 10_000);
    expect(count(web2)).toBe(before[1]);
    const web2Status = enforcement.status.hosts().find((s) => s.name === 'web2')!;
    expect(web2Status.lastError).toMatch(/web2/);
    expect(web2Status.queueDepth).toBeGreaterThan(0);

    await web2.startSshd();
    web3.linkUp();
    await until(() => count(web2) === before[1]! + 100 && count(web3) === before[2]! + 100, 30_000);
    // The status follows right after the store records the batch as applied; the elements are visible
    // a moment earlier (the kernel commits before the SSH command's exit status arrives), and rows
    // retried at different times arrive in several batches.
    await until(() => {
      const web2Now = enforcement.status.hosts().find((s) => s.name === 'web2');
      return web2Now?.state === 'up' && web2Now.queueDepth === 0;
    }, 5000);
    expect(enforcement.status.hosts().find((s) => s.name === 'web2')).toMatchObject({
      queueDepth: 0,
      lastError: null,
    });
  });

  it('reconciles a flushed set, an unknown element and a drifted timeout', async () => {
    const web1 = hosts[0]!;
    const expected = count(web1);
    web1.nft(['flush', 'set', 'inet', 'lokiban', 'banned4']);
    web1.nft(['add', 'element', 'inet', 'lokiban', 'banned4', '{ 192.0.2.123 timeout 1h }']);
    const reports = await enforcement.reconcile();
    expect(reports.find((r) => r.host === 'web1')).toMatchObject({ added: expected, removed: 1, retimed: 0 });
    expect(count(web1)).toBe(expected);
    expect(web1.list().some((e) => e.ip === '192.0.2.123')).toBe(false);

    const sample = web1.list()[0]!;
    web1.nft(['delete', 'element', 'inet', 'lokiban', 'banned4', `{ ${sample.ip} }`]);
    web1.nft(['add', 'element', 'inet', 'lokiban', 'banned4', `{ ${sample.ip} timeout 10s }`]);
    const again = await enforcement.reconcile();
    expect(again.find((r) => r.host === 'web1')).toMatchObject({ added: 0, removed: 0, retimed: 1 });
    expect(web1.list().find((e) => e.ip === sample.ip)?.timeoutSeconds).toBeGreaterThan(500);
    expect(enforcement.status.hosts().find((s) => s.name === 'web1')?.lastReconcile).toMatchObject({
      retimed: 1,
    });
  });
});
