import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { buildDecisionPolicy } from '../src/config/policy.js';
import type { BatchItem } from '../src/domain/types.js';
import { createEnforcement } from '../src/enforce/index.js';
import type { Store } from '../src/store/port.js';
import { PostgresStore } from '../src/store/postgres/store.js';
import { SqliteStore } from '../src/store/sqlite/store.js';
import { createTestHost, type TestHost } from './support/netns.js';
import { createTestSchema, postgresTestUrl, type TestSchema } from './support/postgres.js';

const BANS = 500;
const pgUrl = postgresTestUrl();

function offences(count: number): BatchItem[] {
  const now = Date.now();
  return Array.from({ length: count }, (_, index) => {
    const ip = `198.18.${Math.floor(index / 250)}.${(index % 250) + 1}`;
    return {
      kind: 'offence' as const,
      index,
      offence: {
        fingerprint: `first-contact-${ip}`,
        startsAt: now,
        jail: 'sshd',
        ip,
        reportedIp: ip,
        source: 'alertmanager' as const,
        labels: { ip, jail: 'sshd' },
        receivedAt: now,
      },
    };
  });
}

const stores: Array<[string, boolean, (dir: string) => Promise<{ store: Store; drop(): Promise<void> }>]> = [
  [
    'SQLite',
    true,
    async (dir) => ({ store: new SqliteStore(join(dir, 'lokiban.db')), drop: async () => {} }),
  ],
  [
    'Postgres',
    pgUrl !== undefined,
    async () => {
      const schema: TestSchema = await createTestSchema(pgUrl!, 'lkb_first');
      return { store: new PostgresStore(schema.url), drop: () => schema.drop() };
    },
  ],
];

describe.each(stores)('first contact with a fresh namespace host, %s store', (_name, enabled, open) => {
  let host: TestHost;
  let dir: string;

  beforeAll(async () => {
    if (!enabled) return;
    host = await createTestHost({ name: 'fresh1' });
    dir = mkdtempSync(join(tmpdir(), 'lkb-first-contact-'));
  });

  afterAll(async () => {
    await host?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!enabled)('sends each recorded ban to the host once', async () => {
    const config = parseConfig(
      JSON.stringify({
        store: { sqlite: join(dir, 'lokiban.db') },
        auth: { webhook: { bearer: 'first-contact-token-0123456789' } },
        defaults: { bantime: '1d', ignoreip: [] },
        jails: { sshd: {} },
        transport: 'ssh',
        hosts: [{ ...host.config, match: {} }],
        enforcement: { reconcileInterval: 0, flushInterval: 1 },
      }),
      {},
    );
    const { store, drop } = await open(dir);
    await store.init();
    const enforcement = createEnforcement(config, store, pino({ level: 'silent' }), { owner: 'first' });
    try {
      await store.recordBatch(
        offences(BANS),
        buildDecisionPolicy(config, { localAddresses: [] }),
        'alertmanager',
      );
      // What reaches the host's nft: the elements of every transaction it committed.
      const sent: string[] = [];
      const apply = enforcement.enforcer.apply.bind(enforcement.enforcer);
      enforcement.enforcer.apply = async (target, batch) => {
        const result = await apply(target, batch);
        sent.push(...batch.add.map((element) => element.ip));
        return result;
      };
      enforcement.start();
      const deadline = Date.now() + 20_000;
      // The host has no lokiban table until the first transaction creates it.
      const present = () => {
        try {
          return host.list(4).length;
        } catch {
          return 0;
        }
      };
      while (present() < BANS || enforcement.status.hosts()[0]!.queueDepth > 0) {
        if (Date.now() > deadline) throw new Error('bans not present on the host in time');
        await new Promise((r) => setTimeout(r, 50));
      }
      // Two more polls: a second send of the outbox would have arrived by now.
      await new Promise((r) => setTimeout(r, 2_500));
      expect(host.list(4)).toHaveLength(BANS);
      expect(sent).toHaveLength(BANS);
      expect(new Set(sent).size).toBe(BANS);
    } finally {
      await enforcement.stop();
      await store.close();
      await drop();
    }
  });
});
