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
  /** Set while the reconcile brake holds this host's removals, until an operator confirms. */
  reconcileHeld: ReconcileHold | null;
}

/** Removals a reconcile withheld because they would strip too much of a host's set. */
export interface ReconcileHold {
  /** Elements the last reconcile would have removed (lokiban does not own them). */
  wouldRemove: number;
  /** Elements the host held when it was read. */
  present: number;
  /** Epoch ms the hold began. */
  since: number;
}

export interface EnforcementStatus {
  hosts(): HostStatus[];
  /**
   * An operator's confirmation that a held host's extra elements may go: runs its reconcile now,
   * removals included. Rejects when the host is unknown or nothing is held.
   */
  confirmReconcile?(
    host: string,
  ): Promise<{ added: number; removed: number; retimed: number; held?: number; skipped?: string }>;
}
