/** Where an offence or ban came from; `loki-tail` is the streaming detection path (src/stream). */
export type Source = 'alertmanager' | 'grafana' | 'loki-tail' | 'manual' | 'api';

/** One firing alert that named a valid ip and a known jail: a candidate for a ban. */
export interface Offence {
  /** Alertmanager's fingerprint, or one computed from the sorted labels. */
  fingerprint: string;
  /** Epoch ms of the alert's startsAt. (fingerprint, startsAt) identifies the offence. */
  startsAt: number;
  jail: string;
  /** Canonical network text the ban covers: `1.2.3.4`, `2001:db8::/64`. */
  ip: string;
  /** The address as reported by the alert (canonical, before widening to ipv6prefix). */
  reportedIp: string;
  /** Host label from the alert (where the attack was seen); drives scope `origin`. */
  originHost?: string;
  source: Source;
  summary?: string;
  /** A short log excerpt or description from the alert's annotations, for the panel. */
  sample?: string;
  labels: Record<string, string>;
  receivedAt: number;
}

/** Ban as stored and as served by the API. Times are epoch ms; expiresAt null = permanent. */
export interface Ban {
  id: number;
  ip: string;
  jail: string;
  /** Escalation level: 0 for a first ban, n for the n-th earlier ban inside `memory`. */
  level: number;
  createdAt: number;
  /** Last time an offence extended or renewed this ban. */
  updatedAt: number;
  expiresAt: number | null;
  liftedAt: number | null;
  liftedBy: string | null;
  /** Number of offences that fed this ban. */
  offences: number;
  source: Source;
  summary: string | null;
  sample: string | null;
  hosts: BanTargetState[];
}

export type TargetState = 'pending' | 'applied' | 'failed';

export interface BanTargetState {
  host: string;
  /** `present` while the ban should be enforced on this host, `absent` after an unban. */
  desired: 'present' | 'absent';
  state: TargetState;
  attempts: number;
  lastError: string | null;
  appliedAt: number | null;
}

/** Per-alert result reported in the webhook response. */
export type OutcomeKind =
  | 'banned'
  | 'extended'
  | 'unchanged'
  | 'duplicate'
  | 'ignored-allowlisted'
  | 'ignored-never-ban'
  | 'ignored-no-ip'
  | 'ignored-invalid-ip'
  | 'ignored-unknown-jail'
  | 'ignored-jail-disabled'
  | 'ignored-no-targets'
  | 'ignored-breaker'
  | 'resolved-recorded';

export interface AlertOutcome {
  index: number;
  outcome: OutcomeKind;
  fingerprint?: string;
  ip?: string;
  jail?: string;
  banId?: number;
  /** ISO time the ban now ends, or "permanent". */
  until?: string;
  level?: number;
  reason?: string;
}

/** An operator's ban through the API. */
export interface ManualBanRequest {
  ip: string;
  jail: string;
  /** Seconds; -1 permanent; undefined = the jail's bantime with escalation. */
  duration?: number;
  actor: string;
  reason?: string;
  hosts?: string[];
}

/** One alert of a webhook batch after validation: either an offence to decide, or an outcome already known. */
export type BatchItem =
  | { kind: 'offence'; index: number; offence: Offence }
  | {
      kind: 'resolved';
      index: number;
      fingerprint: string;
      startsAt: number;
      endsAt: number;
      ip?: string;
      jail?: string;
    }
  | { kind: 'skip'; index: number; outcome: AlertOutcome };

/** Jail used by manual bans that name none, with the configured defaults (fail2ban has no such jail). */
export const MANUAL_JAIL = 'manual';
