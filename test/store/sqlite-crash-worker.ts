/**
 * Records single-offence batches into a SQLite file as fast as it can and prints the index of each
 * batch once recordBatch resolved (the moment the responder would answer 2xx). Killed with SIGKILL
 * by sqlite-crash.test.ts. argv: <database file>
 */
import { parseConfig } from '../../src/config/load.js';
import { buildDecisionPolicy } from '../../src/config/policy.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';

const [file] = process.argv.slice(2);
if (!file) throw new Error('usage: sqlite-crash-worker FILE');

const config = parseConfig(
  `
auth: { webhook: { bearer: "crash-test-token-012345" } }
jails: { sshd: {} }
hosts: [ { name: web1, address: 192.0.2.1 } ]
`,
  {},
);
const policy = buildDecisionPolicy(config, { localAddresses: [] });
const store = new SqliteStore(file);
await store.init();
for (let n = 0; ; n++) {
  const ip = `100.64.${(n >> 8) & 255}.${n & 255}`;
  await store.recordBatch(
    [
      {
        kind: 'offence',
        index: 0,
        offence: {
          fingerprint: `crash-${n}`,
          startsAt: 1_800_000_000_000,
          jail: 'sshd',
          ip,
          reportedIp: ip,
          source: 'alertmanager',
          labels: {},
          receivedAt: Date.now(),
        },
      },
    ],
    policy,
    'alertmanager',
  );
  process.stdout.write(`${n}\n`);
}
