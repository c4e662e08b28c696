/**
 * One responder replica reduced to its store: a separate OS process with its own PostgresStore (own
 * pool, own connections) that records deliveries and, on request, runs a lease-guarded dispatcher
 * loop. The HA tests fork two of these against one database. Driven over the IPC channel.
 */
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AlertOutcome, Offence } from '../../src/domain/types.js';
import { PostgresStore } from '../../src/store/postgres/store.js';
import { haPolicy } from './fixtures.js';

export type ReplicaRequest =
  | { type: 'deliver'; id: number; offences: Offence[]; now?: number; concurrency: number }
  | { type: 'ping'; id: number }
  | { type: 'dispatch'; leaseTtlMs: number; batch: number; applyMs: number; log: string };

export interface Delivery {
  fingerprint: string;
  startsAt: number;
  outcome?: AlertOutcome;
  error?: string;
  errorName?: string;
  ms: number;
}

export type ReplicaReply =
  | { type: 'ready' }
  | { type: 'delivered'; id: number; results: Delivery[] }
  | { type: 'pinged'; id: number; ok: boolean; errorName?: string; ms: number }
  | { type: 'lease'; held: boolean };

const url = process.env.LKB_HA_URL;
if (!url) throw new Error('LKB_HA_URL is not set');
const claimTtlMs = Number(process.env.LKB_HA_CLAIM_TTL_MS ?? 2000);
const store = new PostgresStore(url, { claimTtlMs });
const send = (reply: ReplicaReply) => process.send?.(reply);

async function deliver(request: Extract<ReplicaRequest, { type: 'deliver' }>): Promise<Delivery[]> {
  const results: Delivery[] = new Array(request.offences.length);
  let next = 0;
  const policy = haPolicy(request.now);
  // Single-alert batches from `concurrency` parallel senders, as Alertmanager's per-group requests arrive.
  const worker = async () => {
    for (let index = next++; index < request.offences.length; index = next++) {
      const offence = request.offences[index]!;
      const started = performance.now();
      try {
        const [outcome] = (
          await store.recordBatch([{ kind: 'offence', index: 0, offence }], policy, 'alertmanager')
        ).outcomes;
        results[index] = { fingerprint: offence.fingerprint, startsAt: offence.startsAt, outcome, ms: 0 };
      } catch (error) {
        results[index] = {
          fingerprint: offence.fingerprint,
          startsAt: offence.startsAt,
          error: (error as Error).message,
          errorName: (error as Error).name,
          ms: 0,
        };
      }
      results[index]!.ms = performance.now() - started;
    }
  };
  await Promise.all(Array.from({ length: request.concurrency }, worker));
  return results;
}

/**
 * The dispatcher's ownership protocol: hold the lease (renewed every tick), then claim, apply, mark.
 * "Applying" appends the exact (target, version) pairs to a log file before marking them, so the test
 * can count how often each change reached a host, including the batch a killed replica never marked.
 */
async function dispatch(request: Extract<ReplicaRequest, { type: 'dispatch' }>): Promise<void> {
  const owner = `replica-${process.pid}`;
  let held = false;
  for (;;) {
    try {
      const now = Date.now();
      const holds = await store.acquireLease('dispatcher', owner, request.leaseTtlMs, now);
      if (holds !== held) {
        held = holds;
        send({ type: 'lease', held });
      }
      if (!holds) {
        await sleep(request.leaseTtlMs / 4);
        continue;
      }
      const hosts = await store.pendingHosts(now);
      for (const host of hosts) {
        const items = await store.claimPending(host, request.batch, Date.now());
        if (items.length === 0) continue;
        appendFileSync(
          request.log,
          items.map((item) => `apply ${owner} ${item.targetId}:${item.version}\n`).join(''),
        );
        await sleep(request.applyMs);
        await store.markApplied(items, Date.now());
        appendFileSync(
          request.log,
          items.map((item) => `marked ${owner} ${item.targetId}:${item.version}\n`).join(''),
        );
      }
      if (hosts.length === 0) await sleep(20);
    } catch {
      // The database is away: keep the loop alive and try again, as the real dispatcher does.
      await sleep(100);
    }
  }
}

process.on('message', (request: ReplicaRequest) => {
  if (request.type === 'deliver') {
    void deliver(request).then((results) => send({ type: 'delivered', id: request.id, results }));
  } else if (request.type === 'ping') {
    const started = performance.now();
    store.ping().then(
      () => send({ type: 'pinged', id: request.id, ok: true, ms: performance.now() - started }),
      (error: Error) =>
        send({
          type: 'pinged',
          id: request.id,
          ok: false,
          errorName: error.name,
          ms: performance.now() - started,
        }),
    );
  } else {
    void dispatch(request);
  }
});

process.on('disconnect', () => {
  void store.close().finally(() => process.exit(0));
});

await store.init();
send({ type: 'ready' });
