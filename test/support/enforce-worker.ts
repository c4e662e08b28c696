/**
 * A responder-shaped process for crash tests: records bans into a SQLite file (durable before it says
 * "accepted") and runs the enforcement dispatcher against the configured hosts.
 * argv: <config YAML file> <burst count | 0 to only replay the outbox>
 * stdout: "ready", then "accepted <n>" after every durable chunk.
 */
import pino from 'pino';
import { loadConfig } from '../../src/config/load.js';
import { buildDecisionPolicy } from '../../src/config/policy.js';
import type { BatchItem } from '../../src/domain/types.js';
import { createEnforcement } from '../../src/enforce/index.js';
import { createStore } from '../../src/store/index.js';

const [configFile, countText] = process.argv.slice(2);
if (!configFile || countText === undefined) throw new Error('usage: enforce-worker CONFIG COUNT');
const config = loadConfig(configFile, {});
const store = await createStore(config.store);
await store.init();
const policy = buildDecisionPolicy(config, { localAddresses: [] });
const enforcement = createEnforcement(
  config,
  store,
  pino({ level: process.env.LOKIBAN_TEST_LOG ?? 'silent' }, pino.destination(2)),
);
enforcement.start();
process.stdout.write('ready\n');
// Stands in for the HTTP listener that keeps a responder alive.
setInterval(() => {}, 60_000);

const count = Number(countText);
const hosts = config.hosts.map((h) => h.name);
const chunk = 200;
const now = Date.now();
for (let start = 0; start < count; start += chunk) {
  const items: BatchItem[] = [];
  for (let i = start; i < Math.min(count, start + chunk); i++) {
    const ip = `100.${64 + Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}`;
    items.push({
      kind: 'offence',
      index: i - start,
      offence: {
        fingerprint: `crash-${i}`,
        startsAt: now,
        jail: 'sshd',
        ip,
        reportedIp: ip,
        source: 'alertmanager',
        labels: { ip, jail: 'sshd' },
        receivedAt: now,
      },
    });
  }
  await store.recordBatch(items, policy, 'alertmanager');
  process.stdout.write(`accepted ${Math.min(count, start + chunk)}\n`);
  enforcement.notify(hosts);
  // Let the dispatcher interleave with the burst, as webhook deliveries would.
  await new Promise((r) => setImmediate(r));
}
