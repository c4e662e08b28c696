import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { AlertOutcome, BatchItem } from '../../src/domain/types.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'lkb-store-race-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SQLite shared by several processes', () => {
  it('bans once when processes record the same batch at the same moment', async () => {
    const file = join(dir, 'shared.db');
    const now = Date.now();
    const batch: BatchItem[] = Array.from({ length: 20 }, (_, index) => ({
      kind: 'offence',
      index,
      offence: {
        fingerprint: `race-${index}`,
        startsAt: now - 60_000,
        jail: 'sshd',
        ip: `203.0.113.${index + 1}`,
        reportedIp: `203.0.113.${index + 1}`,
        source: 'alertmanager',
        labels: {},
        receivedAt: now,
      },
    }));
    const startAt = Date.now() + 1500;
    const worker = join(import.meta.dirname, 'sqlite-race-worker.ts');
    const results = await Promise.all(
      Array.from({ length: 4 }, () =>
        run(process.execPath, ['--import', 'tsx', worker, file, JSON.stringify(batch), String(startAt)], {
          timeout: 30_000,
        }),
      ),
    );
    const outcomes = results.flatMap(({ stdout }) => JSON.parse(stdout) as AlertOutcome[]);
    expect(outcomes).toHaveLength(80);
    for (let index = 0; index < 20; index++) {
      const forAlert = outcomes.filter((o) => o.index === index).map((o) => o.outcome);
      expect(forAlert.sort()).toEqual(['banned', 'duplicate', 'duplicate', 'duplicate']);
    }
    const store = new SqliteStore(file);
    await store.init();
    try {
      const bans = await store.listBans({}, Date.now());
      expect(bans).toHaveLength(20);
      expect(bans.every((ban) => ban.offences === 1 && ban.hosts.length === 2)).toBe(true);
    } finally {
      await store.close();
    }
  });
});
