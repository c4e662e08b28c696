import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface StreamMetrics {
  linesSeen: Counter<'jail'>;
  linesMatched: Counter<'jail'>;
  crossings: Counter<'jail'>;
  lag: Histogram<'tail'>;
  reconnects: Counter<'tail'>;
  dropped: Counter<'tail'>;
  evictions: Counter;
  recordFailures: Counter;
}

/** The tail path's series, on the process registry beside the webhook's. */
export function createStreamMetrics(
  registry: Registry,
  live: { tracked: () => number; connected: () => Array<{ tail: string; connected: boolean }> },
): StreamMetrics {
  const registers = [registry];
  new Gauge({
    name: 'lokiban_tail_tracked_addresses',
    help: 'Sliding windows held by the tail path, one per (jail, address, host); capped by detect.loki.maxTracked.',
    registers,
    collect() {
      this.set(live.tracked());
    },
  });
  new Gauge({
    name: 'lokiban_tail_connected',
    help: 'Whether the tail is connected to Loki (1) or not (0).',
    labelNames: ['tail'] as const,
    registers,
    collect() {
      this.reset();
      for (const { tail, connected } of live.connected()) this.set({ tail }, connected ? 1 : 0);
    },
  });
  return {
    linesSeen: new Counter({
      name: 'lokiban_tail_lines_seen_total',
      help: "Lines from Loki's tail that the jail's stream selector selects.",
      labelNames: ['jail'] as const,
      registers,
    }),
    linesMatched: new Counter({
      name: 'lokiban_tail_lines_matched_total',
      help: "Lines that passed the jail's whole pipeline and counted toward an address's window.",
      labelNames: ['jail'] as const,
      registers,
    }),
    crossings: new Counter({
      name: 'lokiban_tail_crossings_total',
      help: 'Windows that reached maxretry within findtime: offences recorded by the tail path.',
      labelNames: ['jail'] as const,
      registers,
    }),
    lag: new Histogram({
      name: 'lokiban_tail_lag_seconds',
      help: 'Time from a live entry’s timestamp to its arrival over the tail (now - entry time).',
      labelNames: ['tail'] as const,
      buckets: [0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60],
      registers,
    }),
    reconnects: new Counter({
      name: 'lokiban_tail_reconnects_total',
      help: 'Tail connections that ended and were opened again.',
      labelNames: ['tail'] as const,
      registers,
    }),
    dropped: new Counter({
      name: 'lokiban_tail_dropped_entries_total',
      help: 'Entries Loki reported as dropped from a tail (dropped_entries): the ruler still sees them.',
      labelNames: ['tail'] as const,
      registers,
    }),
    evictions: new Counter({
      name: 'lokiban_tail_evictions_total',
      help: 'Windows evicted (least recently seen first) to stay under detect.loki.maxTracked.',
      registers,
    }),
    recordFailures: new Counter({
      name: 'lokiban_tail_record_failures_total',
      help: 'Tail offences the store could not record after every retry (the ruler path remains).',
      registers,
    }),
  };
}
