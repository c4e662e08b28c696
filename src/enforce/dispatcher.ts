import type { Logger } from 'pino';
import type { EnforcementSettings, HostConfig } from '../config/schema.js';
import { backoffDelay } from '../lib/backoff.js';
import type { Store } from '../store/port.js';
import { CommandFailedError, ListUnsupportedError } from './enforcer.js';
import { DesiredState, hasPrefix, planBatch, planReconcile } from './plan.js';
import type { Enforcer, HostStatus, PresentElement } from './port.js';

/** The part of the store the dispatcher and reconciler use. */
export type OutboxStore = Pick<
  Store,
  | 'pendingHosts'
  | 'claimPending'
  | 'markApplied'
  | 'markFailed'
  | 'desiredForHost'
  | 'acquireLease'
  | 'releaseLease'
>;

export interface DispatcherOptions {
  store: OutboxStore;
  enforcer: Enforcer & {
    backend?(host: HostConfig): { maxTimeoutSeconds: number | null };
    setup?(host: HostConfig): Promise<string[]>;
    forgetSetup?(host: HostConfig): void;
  };
  hosts: readonly HostConfig[];
  settings: EnforcementSettings;
  logger: Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>;
  /**
   * Lease owner id. Stable across restarts of the same responder, so a restart after a crash resumes
   * at once instead of waiting for its own dead lease to expire.
   */
  owner: string;
  now?: () => number;
  random?: () => number;
}

export interface ReconcileReport {
  host: string;
  added: number;
  removed: number;
  retimed: number;
  skipped?: string;
}

interface HostRuntime {
  config: HostConfig;
  status: HostStatus;
  /** Serializes everything done to one host: a flush and a reconcile never interleave. */
  chain: Promise<unknown>;
  flushing: boolean;
  again: boolean;
}

export function retryDelayMs(attempts: number, settings: EnforcementSettings, random: () => number): number {
  return backoffDelay(attempts, settings.retryMin * 1000, settings.retryMax * 1000, random);
}

/**
 * Drains the outbox host by host. Each host has its own chain of work, so a host that is down or slow
 * only delays itself; its rows stay pending with a growing next-attempt time and are caught up as one
 * batch when it answers again.
 */
export class Dispatcher {
  private readonly hosts = new Map<string, HostRuntime>();
  private readonly now: () => number;
  private readonly random: () => number;
  private timers: NodeJS.Timeout[] = [];
  private stopped = true;
  private polling = false;

  constructor(private readonly options: DispatcherOptions) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    for (const config of options.hosts) {
      this.hosts.set(config.name, {
        config,
        chain: Promise.resolve(),
        flushing: false,
        again: false,
        status: {
          name: config.name,
          state: 'unknown',
          queueDepth: 0,
          lastError: null,
          lastAppliedAt: null,
          lastReconcile: null,
        },
      });
    }
  }

  status(): HostStatus[] {
    return [...this.hosts.values()].map((h) => ({ ...h.status }));
  }

  /** Reconciles every host, then drains whatever is pending; afterwards polls and reconciles on timers. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const { settings } = this.options;
    // Each host's reconcile runs first on its own chain; the flush queued behind it replays the outbox.
    void this.reconcileAll();
    void this.poll();
    this.timers.push(setInterval(() => void this.poll(), settings.flushInterval * 1000));
    if (settings.reconcileInterval > 0) {
      this.timers.push(setInterval(() => void this.reconcileAll(), settings.reconcileInterval * 1000));
    }
    for (const timer of this.timers) timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    await Promise.allSettled([...this.hosts.values()].map((h) => h.chain));
  }

  /** New work for these hosts (all when omitted): flush now instead of at the next poll. */
  notify(hosts?: readonly string[]): void {
    if (this.stopped) return;
    for (const name of hosts ?? this.hosts.keys()) {
      const runtime = this.hosts.get(name);
      if (runtime) this.flush(runtime);
    }
  }

  /** Looks for due work (retries, rows written by another replica) and flushes those hosts. */
  async poll(): Promise<void> {
    if (this.stopped || this.polling) return;
    this.polling = true;
    try {
      for (const name of await this.options.store.pendingHosts(this.now())) {
        const runtime = this.hosts.get(name);
        if (runtime) this.flush(runtime);
      }
    } catch (error) {
      this.options.logger.error({ err: error }, 'enforcement: cannot read the outbox');
    } finally {
      this.polling = false;
    }
  }

  private flush(runtime: HostRuntime): void {
    if (runtime.flushing) {
      runtime.again = true;
      return;
    }
    runtime.flushing = true;
    runtime.chain = runtime.chain
      .then(() => this.drain(runtime))
      .catch((error: unknown) => {
        this.options.logger.error({ err: error, host: runtime.config.name }, 'enforcement: flush failed');
      })
      .finally(() => {
        runtime.flushing = false;
        if (runtime.again && !this.stopped) {
          runtime.again = false;
          this.flush(runtime);
        }
      });
  }

  /** Lease per host so that of several responder replicas only one touches a host at a time. */
  private leaseName(runtime: HostRuntime): string {
    return `enforce:${runtime.config.name}`;
  }

  private renewLease(runtime: HostRuntime): Promise<boolean> {
    // Renewed before every batch; a holder that died frees the host after one command timeout.
    const ttl = (this.options.settings.commandTimeout + 10) * 1000;
    return this.options.store.acquireLease(this.leaseName(runtime), this.options.owner, ttl, this.now());
  }

  private async withLease<T>(runtime: HostRuntime, work: () => Promise<T>): Promise<T | undefined> {
    if (!(await this.renewLease(runtime))) return undefined;
    try {
      return await work();
    } finally {
      await this.options.store.releaseLease(this.leaseName(runtime), this.options.owner).catch(() => {});
    }
  }

  private maxTimeout(config: HostConfig): number | null {
    return this.options.enforcer.backend?.(config).maxTimeoutSeconds ?? null;
  }

  private async drain(runtime: HostRuntime): Promise<void> {
    const { store, enforcer, settings, logger } = this.options;
    const host = runtime.config;
    await this.withLease(runtime, async () => {
      while (!this.stopped) {
        runtime.again = false;
        if (!(await this.renewLease(runtime))) return;
        const now = this.now();
        const items = await store.claimPending(host.name, settings.batchSize, now);
        if (items.length === 0) {
          // Rows waiting out a retry backoff are not claimable yet but still queued.
          if (runtime.status.state !== 'down') runtime.status.queueDepth = 0;
          return;
        }
        runtime.status.queueDepth = items.length;
        // Rows already carry each address's merged state; only prefixes need the host's whole picture.
        const desired = hasPrefix(items)
          ? new DesiredState(await store.desiredForHost(host.name, now), now)
          : undefined;
        const { batch, invalid } = planBatch(items, desired, now, this.maxTimeout(host));
        const bad = items.filter((i) => invalid.includes(i.ip));
        const good = items.filter((i) => !invalid.includes(i.ip));
        if (bad.length > 0) {
          await store.markFailed(bad, 'not a valid IP address or CIDR', now + settings.retryMax * 1000);
        }
        try {
          const started = this.now();
          await enforcer.apply(host, batch);
          await store.markApplied(good, this.now());
          runtime.status = {
            ...runtime.status,
            state: 'up',
            lastError: null,
            lastAppliedAt: this.now(),
            queueDepth: 0,
          };
          logger.info(
            {
              host: host.name,
              added: batch.add.length,
              removed: batch.remove.length,
              ms: this.now() - started,
            },
            'enforcement: batch applied',
          );
        } catch (error) {
          const message = (error as Error).message;
          const attempts = Math.max(...good.map((i) => i.attempts), 0) + 1;
          await store.markFailed(good, message, this.now() + retryDelayMs(attempts, settings, this.random));
          runtime.status = { ...runtime.status, state: 'down', lastError: message, queueDepth: items.length };
          logger.warn(
            { host: host.name, rows: good.length, attempts, err: message },
            'enforcement: batch failed',
          );
          return;
        }
        if (items.length < settings.batchSize && !runtime.again) return;
      }
    });
  }

  /** Reconciles every host concurrently; each report says what changed. */
  async reconcileAll(): Promise<ReconcileReport[]> {
    return Promise.all([...this.hosts.values()].map((runtime) => this.reconcile(runtime.config.name)));
  }

  reconcile(name: string): Promise<ReconcileReport> {
    const runtime = this.hosts.get(name);
    if (!runtime) return Promise.reject(new Error(`unknown host "${name}"`));
    const run = runtime.chain.then(() => this.reconcileNow(runtime));
    runtime.chain = run.catch(() => {});
    return run;
  }

  /**
   * A host that rebooted without a saved ruleset has lost lokiban's table: the command fails, setup
   * (idempotent) recreates it, and the reconcile that follows re-adds every ban.
   */
  private async listOrSetup(host: HostConfig): Promise<PresentElement[]> {
    const { enforcer, logger } = this.options;
    try {
      return await enforcer.list(host);
    } catch (error) {
      if (!(error instanceof CommandFailedError) || !enforcer.setup) throw error;
      logger.warn({ host: host.name, err: error.message }, 'enforcement: cannot read the set, running setup');
      await enforcer.setup(host);
      return enforcer.list(host);
    }
  }

  private async reconcileNow(runtime: HostRuntime): Promise<ReconcileReport> {
    const { store, enforcer, settings, logger } = this.options;
    const host = runtime.config;
    const report: ReconcileReport = { host: host.name, added: 0, removed: 0, retimed: 0 };
    try {
      const result = await this.withLease(runtime, async () => {
        // Drop rules flushed by hand leave the sets intact; re-asserting setup with the next batch heals it.
        enforcer.forgetSetup?.(host);
        // Read the host first, then the store: a ban recorded in between is in the store's answer.
        const present: PresentElement[] = await this.listOrSetup(host);
        const now = this.now();
        const desired = new DesiredState(await store.desiredForHost(host.name, now), now);
        const plan = planReconcile(present, desired, now, settings.driftTolerance, this.maxTimeout(host));
        if (plan.batch.add.length + plan.batch.remove.length > 0)
          await enforcer.apply(host, plan.batch, present);
        return plan;
      });
      if (!result) return { ...report, skipped: 'another responder holds this host' };
      Object.assign(report, { added: result.added, removed: result.removed, retimed: result.retimed });
      runtime.status = {
        ...runtime.status,
        state: 'up',
        lastError: null,
        lastReconcile: {
          at: this.now(),
          added: report.added,
          removed: report.removed,
          retimed: report.retimed,
        },
      };
      if (report.added + report.removed + report.retimed > 0)
        logger.info({ ...report }, 'enforcement: reconciled');
      return report;
    } catch (error) {
      if (error instanceof ListUnsupportedError) return { ...report, skipped: error.message };
      const message = (error as Error).message;
      runtime.status = { ...runtime.status, state: 'down', lastError: message };
      logger.warn({ host: host.name, err: message }, 'enforcement: reconcile failed');
      return { ...report, skipped: message };
    }
  }
}
