import { createHash } from 'node:crypto';
import type { JailSettings } from '../domain/jail.js';
import type { BatchItem, Offence } from '../domain/types.js';
import type { BurstRecord, Store } from '../store/port.js';

/**
 * The identity of a burst, shared by both detection paths (docs/streaming.md "Offence identity").
 *
 * The ruler counts per series (ip, jail, host) and its alert is firing exactly while the count over
 * (t - findtime, t] stays at maxretry or more; its startsAt is the first evaluation inside that
 * episode. The tail sees the same lines and knows the episode's start to the nanosecond: the
 * timestamp of the maxretry-th line. So a burst is (jail, address, host, episode start):
 *
 * - the tail records the offence as fingerprint = burstFingerprint(jail, address, host) and
 *   startsAt = the episode start (epoch ms). Every replica tailing the same Loki computes the same
 *   pair, so the store's unique (fingerprint, startsAt) makes one of them ban and the others
 *   `duplicate`;
 * - a ruler alert (Alertmanager or Grafana) with startsAt t0 belongs to the tail's episode that
 *   started at or before t0 and had not ended at t0 (or, while its end is unknown, started less
 *   than findtime before t0). Such an alert takes the burst's identity before it is recorded, and the
 *   store answers `duplicate` — also for every later re-send. An alert no episode covers (the tail
 *   was down, the line never reached it) is recorded under its own identity, as without the tail.
 */
export const BURST_PREFIX = 'burst:';

export function burstFingerprint(jail: string, reportedIp: string, originHost: string | undefined): string {
  const hash = createHash('sha256')
    .update(jail)
    .update('\xff')
    .update(reportedIp)
    .update('\xff')
    .update(originHost ?? '')
    .digest('hex');
  return `${BURST_PREFIX}${hash.slice(0, 24)}`;
}

/** Whether a ruler alert that started at `alertStartsAt` is the tail's `burst`. */
export function coversAlert(burst: BurstRecord, alertStartsAt: number, jail: JailSettings): boolean {
  if (burst.startsAt > alertStartsAt) return false;
  const end = burst.endedAt ?? burst.startsAt + jail.findtime * 1000;
  return alertStartsAt < end;
}

/**
 * Gives each ruler alert of a webhook batch the identity of the tail's burst that covers it, so the
 * store answers `duplicate` instead of deciding the same burst twice. Items of other kinds, and
 * alerts no burst covers, pass through unchanged.
 */
export async function adoptBurstIdentities(
  items: BatchItem[],
  store: Pick<Store, 'findBursts'>,
  jails: Readonly<Record<string, JailSettings>>,
): Promise<BatchItem[]> {
  const candidates = items.flatMap((item, position) => {
    if (item.kind !== 'offence') return [];
    const { offence } = item;
    if (!jails[offence.jail] || offence.fingerprint.startsWith(BURST_PREFIX)) return [];
    const fingerprint = burstFingerprint(offence.jail, offence.reportedIp, offence.originHost);
    return [{ position, fingerprint, at: offence.startsAt }];
  });
  if (candidates.length === 0) return items;
  const bursts = await store.findBursts(candidates);
  const adopted = [...items];
  candidates.forEach((candidate, i) => {
    const burst = bursts[i];
    const item = items[candidate.position] as Extract<BatchItem, { kind: 'offence' }>;
    if (!burst || !coversAlert(burst, item.offence.startsAt, jails[item.offence.jail]!)) return;
    const offence: Offence = {
      ...item.offence,
      fingerprint: candidate.fingerprint,
      startsAt: burst.startsAt,
    };
    adopted[candidate.position] = { ...item, offence };
  });
  return adopted;
}
