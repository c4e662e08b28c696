import type { Counter, Histogram } from 'prom-client';
import type { Config } from '../config/load.js';
import type { JailSettings } from '../domain/jail.js';
import type { DecisionPolicy } from '../domain/policy.js';
import {
  type AlertOutcome,
  type Ban,
  type BatchItem,
  MANUAL_JAIL,
  type ManualBanRequest,
  type Offence,
  type Source,
} from '../domain/types.js';
import type { DecisionStore } from '../store/port.js';
import { adoptBurstIdentities } from '../stream/identity.js';

/** The series the decisions feed (http/metrics.ts creates them on the app's registry). */
export interface DecisionMetrics {
  alerts: Pick<Counter<'outcome' | 'jail'>, 'inc'>;
  storeDuration: Pick<Histogram<'operation'>, 'startTimer'>;
}

export interface DecisionsOptions {
  config: Config;
  store: DecisionStore;
  /** config/policy.ts `buildDecisionPolicy(config)`. */
  policy: DecisionPolicy;
  metrics: DecisionMetrics;
  /**
   * Wakes enforcement for hosts whose desired firewall state changed; called after the change is
   * durable, with the hosts the store reported. A throwing listener is reported, never rethrown.
   */
  wake?: (hosts: string[]) => void;
  onWakeError?: (error: unknown) => void;
}

export interface UnbanRequest {
  ip: string;
  jail?: string;
  actor: string;
  reason?: string;
  now: number;
}

/**
 * The application layer between the ways decisions arrive (webhook, API, the Loki tail) and the
 * store: each operation converts, asks the store, takes what changed from the store's answer, wakes
 * enforcement for exactly those hosts and records the metrics. Nothing here works a decision out
 * again: the store's answer is the one answer.
 */
export interface Decisions {
  /** Jails a manual ban may name: the configured ones and `manual`. */
  readonly manualJails: Readonly<Record<string, JailSettings>>;
  /**
   * One delivery of alerts (a webhook group, or what the Loki tail detected), recorded atomically;
   * one outcome per item.
   */
  recordDelivery(items: BatchItem[], source: Source): Promise<AlertOutcome[]>;
  /** One offence from any other path; the same identity rules apply. */
  recordOffence(offence: Offence): Promise<AlertOutcome>;
  /** Bans, or extends the active ban (never shortens); throws BanRefusedError when refused. */
  manualBan(request: ManualBanRequest): Promise<Ban>;
  unban(request: UnbanRequest): Promise<Ban[]>;
}

export function createDecisions(options: DecisionsOptions): Decisions {
  const { config, store, policy, metrics } = options;
  const manualJails = withManualJail(config);
  const manualPolicy: DecisionPolicy = { ...policy, jails: manualJails };

  const timed = async <T>(operation: string, run: () => Promise<T>): Promise<T> => {
    const end = metrics.storeDuration.startTimer({ operation });
    try {
      return await run();
    } finally {
      end();
    }
  };
  const wake = (hosts: readonly string[]) => {
    if (hosts.length === 0 || !options.wake) return;
    try {
      options.wake([...new Set(hosts)]);
    } catch (error) {
      options.onWakeError?.(error);
    }
  };

  const recordDelivery = async (converted: BatchItem[], source: Source): Promise<AlertOutcome[]> => {
    if (converted.length === 0) return [];
    // With the tail on, a ruler alert for a burst the tail already recorded takes that burst's
    // identity, so the store answers `duplicate` (docs/streaming.md "Offence identity").
    const items =
      config.detect?.loki && source !== 'loki-tail'
        ? await timed('findBursts', () => adoptBurstIdentities(converted, store, config.jails))
        : converted;
    const recorded = await timed('recordBatch', () => store.recordBatch(items, policy, source));
    // lokiban_alerts_total counts webhook alerts; the tail's offences have their own metrics (src/stream).
    if (source !== 'loki-tail') {
      for (const outcome of recorded.outcomes) {
        metrics.alerts.inc({ outcome: outcome.outcome, jail: outcome.jail ?? '' });
      }
    }
    wake(recorded.wake);
    return recorded.outcomes;
  };

  return {
    manualJails,
    recordDelivery,
    async recordOffence(offence) {
      const [outcome] = await recordDelivery([{ kind: 'offence', index: 0, offence }], offence.source);
      return outcome!;
    },
    async manualBan(request) {
      const { ban, wake: hosts } = await timed('manualBan', () => store.manualBan(request, manualPolicy));
      wake(hosts);
      return ban;
    },
    async unban({ ip, ...opts }) {
      const { bans, wake: hosts } = await timed('unban', () => store.unban(ip, opts));
      wake(hosts);
      return bans;
    },
  };
}

/** The configured jails plus `manual` with the defaults, unless the configuration defines it. */
function withManualJail(config: Config): Readonly<Record<string, JailSettings>> {
  if (Object.hasOwn(config.jails, MANUAL_JAIL)) return config.jails;
  const { defaults } = config;
  return {
    ...config.jails,
    [MANUAL_JAIL]: {
      name: MANUAL_JAIL,
      enabled: true,
      bantime: defaults.bantime,
      findtime: defaults.findtime,
      maxretry: defaults.maxretry,
      ignoreip: defaults.ignoreip,
      scope: defaults.scope,
      ipv6prefix: defaults.ipv6prefix,
      increment: defaults.increment,
    },
  };
}
