/**
 * One benchmark replica: its own process and its own store (SQLite file or Postgres pool), recording
 * single-alert batches from `concurrency` parallel senders, as concurrent webhook deliveries would.
 * Forked by bench/store/run.ts; talks over the IPC channel.
 */
import { parseConfig } from '../../src/config/load.js';
import { buildDecisionPolicy } from '../../src/config/policy.js';
import type { Offence } from '../../src/domain/types.js';
import type { Store } from '../../src/store/port.js';

export interface BenchRequest {
  alerts: Offence[];
  concurrency: number;
}

export interface BenchReply {
  /** Milliseconds per delivery, in completion order. */
  latencies: number[];
  outcomes: Record<string, number>;
  errors: number;
  /** Wall-clock epoch ms (comparable across processes). */
  startedAt: number;
  endedAt: number;
}

const config = parseConfig(
  `
auth: { webhook: { bearer: "bench-token-0123456789" } }
# Benchmarks measure throughput: the circuit breaker (docs/decisions.md) is off.
safety: { maxNewBansPerMinute: 0 }
jails: { sshd: {} }
hosts: [ { name: web1, address: 192.0.2.1 }, { name: web2, address: 192.0.2.2 } ]
`,
  {},
);
const policy = buildDecisionPolicy(config, { localAddresses: [] });

async function openStore(): Promise<Store> {
  const kind = process.env.BENCH_STORE;
  const target = process.env.BENCH_TARGET;
  if (!target) throw new Error('BENCH_TARGET is not set');
  if (kind === 'postgres') {
    const { PostgresStore } = await import('../../src/store/postgres/store.js');
    return new PostgresStore(target);
  }
  const { SqliteStore } = await import('../../src/store/sqlite/store.js');
  return new SqliteStore(target);
}

const store = await openStore();
await store.init();

process.on('message', async (request: BenchRequest) => {
  const latencies: number[] = [];
  const outcomes: Record<string, number> = {};
  let errors = 0;
  let next = 0;
  const startedAt = Date.now();
  const sender = async () => {
    for (let i = next++; i < request.alerts.length; i = next++) {
      const offence = request.alerts[i]!;
      const t0 = performance.now();
      try {
        const [outcome] = (
          await store.recordBatch([{ kind: 'offence', index: 0, offence }], policy, 'alertmanager')
        ).outcomes;
        outcomes[outcome!.outcome] = (outcomes[outcome!.outcome] ?? 0) + 1;
      } catch {
        errors += 1;
      }
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: request.concurrency }, sender));
  const reply: BenchReply = { latencies, outcomes, errors, startedAt, endedAt: Date.now() };
  process.send?.(reply);
});

process.on('disconnect', () => {
  void store.close().finally(() => process.exit(0));
});

process.send?.('ready');
