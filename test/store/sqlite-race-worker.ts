/**
 * One responder process recording a webhook batch into a shared SQLite file. Started several times
 * at once by sqlite-multiprocess.test.ts; prints the outcomes as JSON on stdout.
 * argv: <database file> <batch JSON> <start at, epoch ms>
 */
import { parseConfig } from '../../src/config/load.js';
import { buildDecisionPolicy } from '../../src/config/policy.js';
import type { BatchItem } from '../../src/domain/types.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';

const [file, batchJson, startAt] = process.argv.slice(2);
if (!file || !batchJson || !startAt) throw new Error('usage: sqlite-race-worker FILE BATCH_JSON START_AT');

const config = parseConfig(
  `
auth: { webhook: { bearer: "race-test-token-0123456" } }
jails: { sshd: {} }
hosts: [ { name: web1, address: 192.0.2.1 }, { name: web2, address: 192.0.2.2 } ]
`,
  {},
);
const policy = buildDecisionPolicy(config, { localAddresses: [] });
const store = new SqliteStore(file);
await store.init();
// Everyone waits for the same instant so the transactions really overlap.
await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(startAt) - Date.now())));
const outcomes = (await store.recordBatch(JSON.parse(batchJson) as BatchItem[], policy, 'alertmanager'))
  .outcomes;
await store.close();
process.stdout.write(JSON.stringify(outcomes));
