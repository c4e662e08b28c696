import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { EnforcementStatus } from '../enforce/port.js';
import type { Store } from '../store/port.js';

type StatsSource = Pick<Store, 'stats' | 'activeBansPerJail'>;

export type WebhookOutcome = 'accepted' | 'unauthorized' | 'bad-request' | 'too-large' | 'error';

export interface Metrics {
  registry: Registry;
  webhookRequests: Counter<'outcome'>;
  alerts: Counter<'outcome' | 'jail'>;
  unknownJailAlerts: Counter;
  storeDuration: Histogram<'operation'>;
}

/**
 * One registry per app (not prom-client's global one), so several apps in one process — tests, or a
 * future multi-tenant mode — never share or double-register series.
 */
export function createMetrics(options: {
  store: StatsSource;
  enforcement?: EnforcementStatus;
  now: () => number;
  /** A registry other parts of the process also put series in (server.ts: the audit shipper's). */
  registry?: Registry;
}): Metrics {
  const registry = options.registry ?? new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'lokiban_' });
  const webhookRequests = new Counter({
    name: 'lokiban_webhook_requests_total',
    help: 'Webhook deliveries by outcome (accepted, unauthorized, bad-request, too-large, unavailable, error).',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const alerts = new Counter({
    name: 'lokiban_alerts_total',
    help: 'Alerts received in webhook deliveries, by decision outcome and jail.',
    labelNames: ['outcome', 'jail'] as const,
    registers: [registry],
  });
  // Its own series so an alert rule can fire on it: every such alert is an attack nobody bans
  // (a jail renamed in the rules but not in lokiban.yaml, or the reverse). No jail label: the name
  // comes from the sender, and series must not grow with what it sends.
  const unknownJailAlerts = new Counter({
    name: 'lokiban_alerts_unknown_jail_total',
    help: 'Alerts ignored because their jail label names no configured jail.',
    registers: [registry],
  });
  const storeDuration = new Histogram({
    name: 'lokiban_store_duration_seconds',
    help: 'Latency of store operations (recordBatch is the durable webhook decision).',
    labelNames: ['operation'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const { store, enforcement, now } = options;
  new Gauge({
    name: 'lokiban_active_bans',
    help: 'Bans in force right now, by jail.',
    labelNames: ['jail'] as const,
    registers: [registry],
    async collect() {
      const at = now();
      // One count per jail: the full stats would also join every active ban's targets, on each scrape.
      const rows = store.activeBansPerJail
        ? await store.activeBansPerJail(at)
        : (await store.stats({ from: at, to: at, bucketMs: 3_600_000 }, at)).perJail;
      this.reset();
      for (const row of rows) this.set({ jail: row.jail }, row.active);
    },
  });
  if (enforcement) {
    new Gauge({
      name: 'lokiban_host_up',
      help: 'Whether the last firewall transaction or probe on the host succeeded (1) or not (0).',
      labelNames: ['host'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const host of enforcement.hosts()) this.set({ host: host.name }, host.state === 'up' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'lokiban_host_queue_depth',
      help: 'Ban changes waiting to be applied on the host.',
      labelNames: ['host'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const host of enforcement.hosts()) this.set({ host: host.name }, host.queueDepth);
      },
    });
    new Gauge({
      name: 'lokiban_host_set_aside_bans',
      help: 'Bans set aside on the host because no firewall command can carry them (see /api/v1/hosts).',
      labelNames: ['host'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const host of enforcement.hosts()) this.set({ host: host.name }, host.setAside.count);
      },
    });
    new Gauge({
      name: 'lokiban_host_reconcile_held',
      help: 'Removals the reconcile brake holds on the host until an operator confirms (0 when none).',
      labelNames: ['host'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const host of enforcement.hosts())
          this.set({ host: host.name }, host.reconcileHeld?.wouldRemove ?? 0);
      },
    });
  }
  return { registry, webhookRequests, alerts, unknownJailAlerts, storeDuration };
}

/** Runs a store call and records its latency, also when it throws. */
export async function timed<T>(metrics: Metrics, operation: string, run: () => Promise<T>): Promise<T> {
  const end = metrics.storeDuration.startTimer({ operation });
  try {
    return await run();
  } finally {
    end();
  }
}
