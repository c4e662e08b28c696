import { createHash } from 'node:crypto';
import type { Config } from '../config/load.js';
import { banNetworkFor, formatNetwork, parseAddress } from '../domain/ip.js';
import { HOST_LABEL, LABEL_VALUE_MAX, SAMPLE_MAX, SUMMARY_MAX, truncate } from '../domain/offence-limits.js';
import type { BatchItem, Offence, Source } from '../domain/types.js';
import type { WebhookAlert, WebhookPayload } from './webhook-schema.js';

const LABELS_MAX = 64;

export interface ConvertOptions {
  source: Extract<Source, 'alertmanager' | 'grafana'>;
  receivedAt: number;
}

/** Alertmanager's fingerprint is a hash of the label set; this one is stable across senders and restarts. */
export function fingerprintOf(labels: Record<string, string>): string {
  const hash = createHash('sha256');
  for (const name of Object.keys(labels).sort()) {
    // Separator bytes that cannot occur in UTF-8 text keep {a:"b,c"} and {a:"b", c:…} apart.
    hash.update(name).update('\xff').update(labels[name]!).update('\xfe');
  }
  return hash.digest('hex').slice(0, 16);
}

function keptLabels(labels: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(labels).sort().slice(0, LABELS_MAX)) {
    out[name] = truncate(labels[name], LABEL_VALUE_MAX) ?? '';
  }
  return out;
}

function epochMs(text: string): number {
  return Date.parse(text);
}

function convertAlert(
  alert: WebhookAlert,
  index: number,
  config: Pick<Config, 'labels' | 'jails'>,
  options: ConvertOptions,
): BatchItem {
  const { labels } = alert;
  const fingerprint =
    alert.fingerprint && alert.fingerprint.length > 0 ? alert.fingerprint : fingerprintOf(labels);
  const startsAt = epochMs(alert.startsAt);
  const ipLabel = config.labels.ip;
  const jailLabel = config.labels.jail;
  const rawIp = Object.hasOwn(labels, ipLabel) ? labels[ipLabel] : undefined;
  const jailName = Object.hasOwn(labels, jailLabel) ? labels[jailLabel] : undefined;
  const jail =
    jailName !== undefined && Object.hasOwn(config.jails, jailName) ? config.jails[jailName] : undefined;
  const address = rawIp !== undefined ? parseAddress(rawIp) : undefined;

  if (alert.status === 'resolved') {
    const endsAt = alert.endsAt ? epochMs(alert.endsAt) : options.receivedAt;
    return {
      kind: 'resolved',
      index,
      fingerprint,
      startsAt,
      // A resolved alert always carries its end; fall back to arrival for senders that omit it.
      endsAt: endsAt > 0 ? endsAt : options.receivedAt,
      ...(address ? { ip: formatNetwork(jail ? banNetworkFor(address, jail.ipv6prefix) : address) } : {}),
      ...(jail ? { jail: jail.name } : {}),
    };
  }

  const skip = (outcome: Extract<BatchItem, { kind: 'skip' }>['outcome']): BatchItem => ({
    kind: 'skip',
    index,
    outcome,
  });
  if (rawIp === undefined || rawIp.trim() === '') {
    return skip({ index, outcome: 'ignored-no-ip', fingerprint, reason: `alert has no "${ipLabel}" label` });
  }
  // The label is attacker-influenced (extracted from log lines): it is never echoed back or logged.
  if (!address) {
    return skip({
      index,
      outcome: 'ignored-invalid-ip',
      fingerprint,
      reason: `label "${ipLabel}" is not a single IPv4 or IPv6 address`,
    });
  }
  const reportedIp = formatNetwork(address);
  if (jailName === undefined) {
    return skip({
      index,
      outcome: 'ignored-unknown-jail',
      fingerprint,
      ip: reportedIp,
      reason: `alert has no "${jailLabel}" label`,
    });
  }
  if (!jail) {
    return skip({
      index,
      outcome: 'ignored-unknown-jail',
      fingerprint,
      ip: reportedIp,
      reason: `jail "${truncate(jailName, 64) ?? ''}" is not configured`,
    });
  }
  if (!jail.enabled) {
    return skip({
      index,
      outcome: 'ignored-jail-disabled',
      fingerprint,
      ip: reportedIp,
      jail: jail.name,
      reason: `jail "${jail.name}" is disabled`,
    });
  }
  const hostValue = labels[config.labels.host];
  const originHost =
    Object.hasOwn(labels, config.labels.host) && hostValue && HOST_LABEL.test(hostValue)
      ? hostValue
      : undefined;
  const offence: Offence = {
    fingerprint,
    startsAt,
    jail: jail.name,
    ip: formatNetwork(banNetworkFor(address, jail.ipv6prefix)),
    reportedIp,
    source: options.source,
    labels: keptLabels(labels),
    receivedAt: options.receivedAt,
  };
  if (originHost) offence.originHost = originHost;
  const summary = truncate(alert.annotations.summary, SUMMARY_MAX);
  if (summary) offence.summary = summary;
  const sample = truncate(alert.annotations.sample ?? alert.annotations.description, SAMPLE_MAX);
  if (sample) offence.sample = sample;
  return { kind: 'offence', index, offence };
}

/** Splits one webhook delivery into one batch item per alert, in order. Pure: no I/O, no clock. */
export function toBatchItems(
  payload: WebhookPayload,
  config: Pick<Config, 'labels' | 'jails'>,
  options: ConvertOptions,
): BatchItem[] {
  return payload.alerts.map((alert, index) => convertAlert(alert, index, config, options));
}
