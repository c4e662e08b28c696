import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import type { Registry } from 'prom-client';
import type { Config } from '../config/load.js';
import type { DetectLokiSettings } from '../config/schema.js';
import { banNetworkFor, formatNetwork, parseAddress } from '../domain/ip.js';
import { HOST_LABEL, LABEL_VALUE_MAX, SAMPLE_MAX, SUMMARY_MAX, truncate } from '../domain/offence-limits.js';
import type { AlertOutcome, BatchItem, Offence } from '../domain/types.js';
import type { JailDefinition } from '../logql/catalogue.js';
import { burstFingerprint } from './identity.js';
import { type LokiEntry, lokiConnection, nsToMs } from './loki-client.js';
import { createStreamMetrics, type StreamMetrics } from './metrics.js';
import { buildPipelines, groupTails, type JailPipeline, type TailGroup } from './pipelines.js';
import { LokiTail, type TailStatus } from './tail.js';
import { SlidingWindows } from './windows.js';

/** Records tail offences and episode ends through the decision path; resolves once durable. */
export type RecordItems = (items: BatchItem[]) => Promise<AlertOutcome[]>;

export interface DetectionStatus {
  /** Every tail is connected. */
  connected: boolean;
  tails: TailStatus[];
}

export interface DetectorOptions {
  config: Pick<Config, 'jails' | 'labels'> & { detect: { loki: DetectLokiSettings } };
  catalogue: readonly JailDefinition[];
  record: RecordItems;
  logger: FastifyBaseLogger;
  registry: Registry;
  now?: () => number;
  random?: () => number;
}

interface WindowMeta {
  jail: JailPipeline;
  reportedIp: string;
  ip: string;
  originHost: string | undefined;
  labels: Record<string, string>;
}

/** An episode counts as over this long after its computed end: late lines of it may still arrive. */
const END_GRACE_MS = 10_000;
const SWEEP_INTERVAL_MS = 1_000;
const RECORD_ATTEMPTS = 5;

/**
 * The streaming detection path: Loki tails → the jails' pipelines → per-series sliding windows →
 * an offence at the maxretry-th line, recorded through the same decision path as a webhook alert.
 */
export class StreamDetector {
  readonly groups: TailGroup[];
  readonly skipped: string[];
  private readonly tails: LokiTail[];
  private readonly windows: SlidingWindows<WindowMeta>;
  private readonly metrics: StreamMetrics;
  private readonly now: () => number;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private stopping = false;
  private evictionsReported = 0;

  constructor(private readonly options: DetectorOptions) {
    const settings = options.config.detect.loki;
    this.now = options.now ?? Date.now;
    const { pipelines, skipped } = buildPipelines(options.catalogue, options.config);
    this.skipped = skipped;
    this.groups = groupTails(pipelines);
    this.windows = new SlidingWindows(settings.maxTracked);
    const connection = lokiConnection(settings);
    this.tails = this.groups.map(
      (group) =>
        new LokiTail({
          name: group.name,
          query: group.query,
          jails: group.jails.map((jail) => jail.name),
          connection,
          backfillFrom: this.now() - group.findtime * 1000,
          retryMinMs: settings.retryMin * 1000,
          retryMaxMs: settings.retryMax * 1000,
          now: this.now,
          ...(options.random ? { random: options.random } : {}),
          events: this.eventsFor(group),
        }),
    );
    this.metrics = createStreamMetrics(options.registry, {
      tracked: () => this.windows.size,
      connected: () =>
        this.tails.map((tail) => ({ tail: tail.status().name, connected: tail.status().connected })),
    });
  }

  start(): void {
    const { logger } = this.options;
    logger.info(
      {
        tails: this.groups.map((group) => ({
          tail: group.name,
          jails: group.jails.map((j) => j.name),
          query: group.query,
        })),
        ...(this.skipped.length > 0 ? { notTailed: this.skipped } : {}),
      },
      `tailing Loki for ${this.groups.reduce((n, group) => n + group.jails.length, 0)} jails over ${this.groups.length} tails`,
    );
    for (const tail of this.tails) tail.start();
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.sweeper);
    await Promise.all(this.tails.map((tail) => tail.stop()));
    await Promise.all([...this.inFlight]);
  }

  status(): DetectionStatus {
    const tails = this.tails.map((tail) => tail.status());
    return { connected: tails.every((tail) => tail.connected), tails };
  }

  private eventsFor(group: TailGroup) {
    const { logger } = this.options;
    const jails = group.jails.map((jail) => jail.name);
    return {
      entries: (entries: LokiEntry[], phase: 'backfill' | 'live') => this.process(group, entries, phase),
      dropped: (count: number) => {
        this.metrics.dropped.inc({ tail: group.name }, count);
        logger.warn({ tail: group.name, jails, dropped: count }, 'Loki dropped entries from the tail');
      },
      reconnect: () => this.metrics.reconnects.inc({ tail: group.name }),
      invalid: (message: string) =>
        logger.error(
          { tail: group.name, jails, query: group.query, reason: message },
          `configuration error: Loki refuses the tail query of jail${jails.length > 1 ? 's' : ''} ${jails.join(', ')}; this tail stays off until the configuration is fixed`,
        ),
      transientError: (message: string) =>
        logger.warn({ tail: group.name, jails, reason: message }, 'Loki tail interrupted; reconnecting'),
      connected: () => logger.info({ tail: group.name, jails }, 'Loki tail connected'),
    };
  }

  /** Runs one batch of entries through every jail of the group. Public for tests and the benchmark. */
  process(group: TailGroup, entries: readonly LokiEntry[], phase: 'backfill' | 'live'): void {
    const { labels: names } = this.options.config;
    const now = this.now();
    const items: BatchItem[] = [];
    for (const entry of entries) {
      const ms = nsToMs(entry.ns);
      if (phase === 'live') this.metrics.lag.observe({ tail: group.name }, Math.max(0, (now - ms) / 1000));
      for (const jail of group.jails) {
        const [first] = jail.parts;
        if (!first!.compiled.selects(entry.labels)) continue;
        this.metrics.linesSeen.inc({ jail: jail.name });
        let labels: Record<string, string> | null = null;
        let compiled = first!.compiled;
        for (const part of jail.parts) {
          labels = part.compiled.process(entry.line, entry.labels);
          compiled = part.compiled;
          if (labels) break;
        }
        if (!labels) continue;
        this.metrics.linesMatched.inc({ jail: jail.name });
        const address = parseAddress(labels[names.ip] ?? '');
        if (!address) continue;
        const reportedIp = formatNetwork(address);
        const hostValue = labels[names.host];
        const originHost = hostValue && HOST_LABEL.test(hostValue) ? hostValue : undefined;
        // The ruler's series: sum by the rule's grouping labels.
        const series: Record<string, string> = {};
        for (const name of compiled.query.groupBy) {
          const value = labels[name];
          const kept = value ? truncate(value, LABEL_VALUE_MAX) : undefined;
          if (kept) series[name] = kept;
        }
        series[names.ip] = reportedIp;
        const key = `${jail.name}\n${reportedIp}\n${originHost ?? ''}`;
        const meta: WindowMeta = {
          jail,
          reportedIp,
          ip: formatNetwork(banNetworkFor(address, jail.settings.ipv6prefix)),
          originHost,
          labels: series,
        };
        const rule = { findtimeMs: jail.settings.findtime * 1000, maxretry: jail.settings.maxretry };
        const result = this.windows.add(key, ms, rule, meta);
        if (result.ended)
          items.push(this.endItem(result.ended.meta, result.ended.startsAt, result.ended.endsAt));
        if (result.crossing) {
          this.metrics.crossings.inc({ jail: jail.name });
          items.push(this.offenceItem(meta, result.crossing.startsAt, now, entry.line));
        }
      }
    }
    const evictions = this.windows.evictions;
    if (evictions > this.evictionsReported) {
      this.metrics.evictions.inc(evictions - this.evictionsReported);
      this.evictionsReported = evictions;
    }
    if (items.length > 0) this.record(items);
  }

  /** `line` is the maxretry-th line, kept as the ban's sample (the window itself keeps no text). */
  private offenceItem(meta: WindowMeta, startsAt: number, now: number, line: string): BatchItem {
    const { jail } = meta;
    const offence: Offence = {
      fingerprint: burstFingerprint(jail.name, meta.reportedIp, meta.originHost),
      startsAt,
      jail: jail.name,
      ip: meta.ip,
      reportedIp: meta.reportedIp,
      source: 'loki-tail',
      labels: meta.labels,
      receivedAt: now,
    };
    const summary = truncate(
      `${jail.settings.maxretry} matching lines from ${meta.reportedIp} within ${jail.settings.findtime}s (Loki tail)`,
      SUMMARY_MAX,
    );
    if (summary) offence.summary = summary;
    const sample = truncate(line, SAMPLE_MAX);
    if (sample) offence.sample = sample;
    if (meta.originHost) offence.originHost = meta.originHost;
    return { kind: 'offence', index: 0, offence };
  }

  private endItem(meta: WindowMeta, startsAt: number, endsAt: number): BatchItem {
    return {
      kind: 'resolved',
      index: 0,
      fingerprint: burstFingerprint(meta.jail.name, meta.reportedIp, meta.originHost),
      startsAt,
      endsAt,
      ip: meta.ip,
      jail: meta.jail.name,
    };
  }

  private sweep(): void {
    const ended = this.windows.sweep(this.now() - END_GRACE_MS);
    if (ended.length > 0) this.record(ended.map((end) => this.endItem(end.meta, end.startsAt, end.endsAt)));
  }

  /** Records with retries; a batch the store never takes is logged and left to the ruler path. */
  private record(items: BatchItem[]): void {
    const indexed = items.map((item, index) => ({ ...item, index }));
    const task = (async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          const outcomes = await this.options.record(indexed);
          for (const outcome of outcomes) {
            if (outcome.outcome === 'resolved-recorded') continue;
            // Another replica (or this one before a restart) recorded the burst: nothing happened here.
            this.options.logger[outcome.outcome === 'duplicate' ? 'debug' : 'info'](
              { jail: outcome.jail, ip: outcome.ip, outcome: outcome.outcome, banId: outcome.banId },
              'tail offence recorded',
            );
          }
          return;
        } catch (error) {
          if (attempt >= RECORD_ATTEMPTS || this.stopping) {
            this.metrics.recordFailures.inc(indexed.filter((item) => item.kind === 'offence').length);
            this.options.logger.error(
              { err: error, items: indexed.length },
              'could not record tail offences; the ruler alerts remain',
            );
            return;
          }
          await sleep(Math.min(8_000, 250 * 2 ** attempt));
        }
      }
    })();
    this.inFlight.add(task);
    void task.finally(() => this.inFlight.delete(task));
  }
}
