import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/store.js';

const dir = mkdtempSync(join(tmpdir(), 'lkb-store-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SQLite after a killed process', () => {
  it('keeps every batch that was acknowledged before SIGKILL', async () => {
    const file = join(dir, 'crash.db');
    const worker = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'sqlite-crash-worker.ts'), file],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let acknowledged = -1;
    let buffer = '';
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      worker.on('exit', (_code, signal) => resolve(signal)),
    );
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the worker acknowledged too few batches')), 20_000);
        worker.stdout.on('data', (chunk: Buffer) => {
          buffer += chunk.toString();
          const lines = buffer.split('\n');
          buffer = lines.pop()!;
          for (const line of lines) acknowledged = Number(line);
          // Kill while it is writing: the next transaction is in flight.
          if (acknowledged >= 300) {
            clearTimeout(timer);
            worker.kill('SIGKILL');
            resolve();
          }
        });
        worker.on('exit', () => reject(new Error('the worker exited before it was killed')));
      });
    } finally {
      worker.kill('SIGKILL');
    }
    expect(await exited).toBe('SIGKILL');

    const store = new SqliteStore(file);
    await store.init();
    try {
      const bans = await store.listBans({ limit: 100_000 }, 1_800_000_000_000);
      // Everything acknowledged is there; at most the batches in flight at the kill are extra.
      expect(bans.length).toBeGreaterThanOrEqual(acknowledged + 1);
      expect(bans.length).toBeLessThanOrEqual(acknowledged + 1 + 64);
      const ips = new Set(bans.map((ban) => ban.ip));
      for (let n = 0; n <= acknowledged; n++)
        expect(ips.has(`100.64.${(n >> 8) & 255}.${n & 255}`)).toBe(true);
      expect(bans.every((ban) => ban.hosts.length === 1 && ban.offences === 1)).toBe(true);
    } finally {
      await store.close();
    }
  });
});
