/**
 * A replica running lokiban's real Dispatcher on a PostgresStore, with an enforcer that records every
 * batch it is given in a shared log file instead of touching a firewall: the file is what the hosts
 * "received", and it survives the process being killed. Configured by environment, started by fork.
 */
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseConfig } from '../../src/config/load.js';
import type { HostConfig } from '../../src/config/schema.js';
import { Dispatcher } from '../../src/enforce/dispatcher.js';
import { ListUnsupportedError } from '../../src/enforce/enforcer.js';
import type { EnforcementBatch, Enforcer } from '../../src/enforce/port.js';
import { PostgresStore } from '../../src/store/postgres/store.js';

const url = process.env.LKB_HA_URL!;
const log = process.env.LKB_HA_LOG!;
const owner = `replica-${process.pid}`;

const config = parseConfig(
  `
auth: { webhook: { bearer: "ha-test-token-0123456789" } }
jails: { sshd: {} }
enforcement: { batchSize: 10, flushInterval: 1, commandTimeout: 1, reconcileInterval: 0 }
hosts:
  - { name: web1, address: 192.0.2.1 }
  - { name: web2, address: 192.0.2.2 }
`,
  {},
);

const enforcer: Enforcer = {
  async apply(host: HostConfig, batch: EnforcementBatch) {
    const ips = batch.add.map((element) => element.ip).join(',');
    appendFileSync(log, `apply ${owner} ${host.name} ${ips}\n`);
    // A firewall transaction takes a moment: long enough for a kill to land in the middle of a burst.
    await sleep(20);
    return { commands: [] };
  },
  async list() {
    throw new ListUnsupportedError('recording enforcer cannot read hosts');
  },
  async close() {},
};

const store = new PostgresStore(url, { claimTtlMs: Number(process.env.LKB_HA_CLAIM_TTL_MS ?? 2000) });
await store.init();
const dispatcher = new Dispatcher({
  store,
  enforcer,
  hosts: config.hosts,
  settings: config.enforcement,
  logger: { info() {}, warn() {}, error() {}, debug() {} },
  owner,
});
dispatcher.start();
process.send?.('ready');
process.on('disconnect', () => {
  void dispatcher.stop().finally(() => store.close().finally(() => process.exit(0)));
});
