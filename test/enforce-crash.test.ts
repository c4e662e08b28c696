import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/store/sqlite/store.js';
import { createTestHost, type TestHost } from './support/netns.js';

const worker = join(import.meta.dirname, 'support', 'enforce-worker.ts');

function startWorker(configFile: string, count: number, onLine: (line: string) => void): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', worker, configFile, String(count)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  let buffer = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let index = buffer.indexOf('\n');
    while (index >= 0) {
      onLine(buffer.slice(0, index));
      buffer = buffer.slice(index + 1);
      index = buffer.indexOf('\n');
    }
  });
  return child;
}

describe('kill -9 during a burst, then restart', () => {
  const hosts: TestHost[] = [];
  let dir: string;
  let configFile: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lkb-enf-crash-'));
    for (const name of ['c1', 'c2', 'c3']) hosts.push(await createTestHost({ name }));
    configFile = join(dir, 'lokiban.yaml');
    writeFileSync(
      configFile,
      JSON.stringify({
        store: { sqlite: join(dir, 'lokiban.db') },
        auth: { webhook: { bearer: 'crash-test-token-0123456789' } },
        defaults: { bantime: '1h', ignoreip: [] },
        // The burst is thousands of new bans a minute: this test is about durability, not the breaker.
        safety: { maxNewBansPerMinute: 0 },
        jails: { sshd: {} },
        transport: 'ssh',
        hosts: hosts.map((h) => ({ ...h.config, match: {} })),
        enforcement: { retryMin: 1, retryMax: 2, reconcileInterval: 600, batchSize: 500 },
      }),
    );
  });

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    for (const host of hosts) await host.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('puts every accepted ban on every host exactly once', { timeout: 90_000 }, async () => {
    let accepted = 0;
    const first = startWorker(configFile, 4000, (line) => {
      if (line.startsWith('accepted ')) accepted = Number(line.slice(9));
    });
    children.push(first);
    const killedAt = await new Promise<number>((resolve) => {
      const timer = setInterval(() => {
        if (accepted >= 1400) {
          clearInterval(timer);
          first.kill('SIGKILL');
          resolve(accepted);
        }
      }, 2);
    });
    await new Promise((r) => first.once('exit', r));
    expect(killedAt).toBeLessThan(4000);

    const store = new SqliteStore(join(dir, 'lokiban.db'));
    await store.init();
    const active = await store.listBans({ active: true, limit: 100_000 }, Date.now());
    // Everything the dead process said it accepted is durable; the burst stopped part-way.
    expect(active.length).toBeGreaterThanOrEqual(killedAt);
    expect(active.length).toBeLessThan(4000);
    const pendingBefore = await store.pendingHosts(Date.now());
    await store.close();
    expect(pendingBefore.length).toBeGreaterThan(0);

    const second = startWorker(configFile, 0, () => {});
    children.push(second);
    const wanted = active.map((b) => b.ip).sort();
    const deadline = Date.now() + 20_000;
    let lists: string[][] = [];
    while (Date.now() < deadline) {
      lists = hosts.map((h) => {
        try {
          return h
            .list(4)
            .map((e) => e.ip)
            .sort();
        } catch {
          return []; // the table appears with the first batch
        }
      });
      if (lists.every((l) => l.length === wanted.length)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const list of lists) expect(list).toEqual(wanted);
    second.kill('SIGKILL');
  });
});
