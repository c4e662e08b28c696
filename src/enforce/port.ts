import type { HostConfig } from '../config/schema.js';
import type { Family } from '../domain/ip.js';

/** One element to place in a host's ban set. `ip` is canonical (validated) address or CIDR text. */
export interface BanElement {
  ip: string;
  family: Family;
  jail: string;
  /** Remaining seconds (≥ 1); null = permanent. */
  timeoutSeconds: number | null;
}

/**
 * A batch for ONE host, applied as one firewall transaction. `add` replaces an existing element
 * (that is how a ban is extended); `remove` deletes elements and ignores those already gone.
 */
export interface EnforcementBatch {
  add: BanElement[];
  remove: Array<Pick<BanElement, 'ip' | 'family'>>;
}

export interface EnforcementResult {
  /** The exact commands / stdin sent, for dry-run logs and audit. */
  commands: string[];
}

/** An element as read back from a host (reconciler input). */
export interface PresentElement {
  ip: string;
  family: Family;
  /** Remaining seconds; null = no timeout. */
  timeoutSeconds: number | null;
}

/** The port every transport+backend pair implements. Errors are thrown with a message naming the host. */
export interface Enforcer {
  /**
   * `present`, when the caller has just read the host's set (the reconciler), lets the backend write
   * exact commands instead of defensive ones.
   */
  apply(
    host: HostConfig,
    batch: EnforcementBatch,
    present?: readonly PresentElement[],
  ): Promise<EnforcementResult>;
  list(host: HostConfig): Promise<PresentElement[]>;
  close(): Promise<void>;
}

/** A ban no command can carry on this host, set aside so the rest of the host's work goes on. */
export interface SetAsideBan {
  ip: string;
  reason: string;
  /** Epoch ms it was first set aside. */
  since: number;
}

/** Live enforcement state of one host, for /api/v1/hosts, `lokiban status` and /metrics. */
export interface HostStatus {
  name: string;
  state: 'up' | 'down' | 'unknown';
  queueDepth: number;
  lastError: string | null;
  lastAppliedAt: number | null;
  lastReconcile: { at: number; added: number; removed: number; retimed: number } | null;
  /** Bans set aside on this host (retried hourly); `examples` lists the first few. */
  setAside: { count: number; examples: SetAsideBan[] };
}

export interface EnforcementStatus {
  hosts(): HostStatus[];
}
