import type { Logger } from 'pino';
import type { EnforcementSettings, HostConfig } from '../config/schema.js';
import { backoffDelay } from '../lib/backoff.js';
import type { OutboxItem, Store } from '../store/port.js';
import { CommandFailedError, ListUnsupportedError } from './enforcer.js';
import {
  DesiredState,
  hasPrefix,
  planBatch,
  planReconcile,
  type ReconcilePlan,
  type Rejected,
} from './plan.js';
import type {
  EnforcementBatch,
  Enforcer,
  HostStatus,
  PresentElement,
  ReconcileHold,
  SetAsideBan,
} from './port.js';

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
> &
  Partial<Pick<Store, 'listBans'>>;

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
  /** Removals the brake withheld (see RECONCILE_BRAKE_SHARE); nothing was removed from the host. */
  held?: number;
  skipped?: string;
}

/**
 * The reconcile brake. A reconcile that would remove more than this share of a host's elements, and
 * more than RECONCILE_BRAKE_FLOOR of them, removes nothing until an operator confirms: a store that
 * lost its rows (a new database file, a path relative to another working directory) must not unban
 * the fleet. Additions and retimes still go; outbox unbans (lokiban lifting its own bans) never wait.
 */
export const RECONCILE_BRAKE_SHARE = 0.5;
/** Below this many removals a reconcile always repairs the drift (a few hand-added elements). */
export const RECONCILE_BRAKE_FLOOR = 20;

/** Whether removing `remove` of `present` elements needs an operator's confirmation. */
export function brakes(remove: number, present: number): boolean {
  return remove > RECONCILE_BRAKE_FLOOR && remove > present * RECONCILE_BRAKE_SHARE;
}

/** Thrown by confirmReconcile when there is nothing to confirm. */
export class NothingHeldError extends Error {}

/** A set-aside row is tried again this much later: it holds nothing else up, and a fix gets picked up. */
export const SET_ASIDE_RETRY_MS = 3_600_000;
/** How many set-aside bans /api/v1/hosts lists per host (the count covers all of them). */
const SET_ASIDE_EXAMPLES = 20;
/**
 * How many due outbox rows one reconcile settles (bounds its memory); rows beyond it are sent again by
 * the drain, which is redundant but harmless.
 */
const RECONCILE_CLAIM_LIMIT = 100_000;

type OutboxItemRef = Pick<OutboxItem, 'targetId' | 'version' | 'attempts'>;

interface HostRuntime {
  config: HostConfig;
  status: HostStatus;
  setAside: Map<string, SetAsideBan>;
  /** Serializes everything done to one host: a flush and a reconcile never interleave. */
  chain: Promise<unknown>;
  flushing: boolean;
  again: boolean;
  /** Set by an operator's confirmation: the next reconcile removes what the brake held. */
  confirmed: boolean;
}

export function retryDelayMs(attempts: number, settings: EnforcementSettings, random: () => number): number {
  return backoffDelay(attempts, settings.retryMin * 1000, settings.retryMax * 1000, random);
}

/**
 * The parts of a batch that can be tried alone: each single address, and all prefix changes together
 * (a wider prefix replacing narrower ones must stay in one transaction, or the interval set refuses
 * the overlap).
 */
function unitsOf(batch: EnforcementBatch): EnforcementBatch[] {
  const singles = new Map<string, EnforcementBatch>();
  const prefixes: EnforcementBatch = { add: [], remove: [] };
  const unit = (ip: string) => {
    if (ip.includes('/')) return prefixes;
    let found = singles.get(ip);
    if (!found) {
      found = { add: [], remove: [] };
      singles.set(ip, found);
    }
    return found;
  };
  for (const element of batch.add) unit(element.ip).add.push(element);
  for (const element of batch.remove) unit(element.ip).remove.push(element);
  const units = [...singles.values()];
  if (prefixes.add.length + prefixes.remove.length > 0) units.push(prefixes);
  return units;
}

const ipsOf = (batch: EnforcementBatch) => [...batch.add, ...batch.remove].map((e) => e.ip);
const joinUnits = (units: EnforcementBatch[]): EnforcementBatch => ({
  add: units.flatMap((u) => u.add),
  remove: units.flatMap((u) => u.remove),
});

/** What applying a batch achieved once a refused part had to be found. */
interface Isolated {
  applied: Set<string>;
  /** Addresses the firewall refused when sent alone, with its message. */
  refused: Map<string, string>;
  /** Set when the host itself fails (nothing applied, or the search ran out of tries): retry the rest. */
  error?: Error;
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
        setAside: new Map(),
        chain: Promise.resolve(),
        flushing: false,
        again: false,
        confirmed: false,
        status: {
          name: config.name,
          state: 'unknown',
          queueDepth: 0,
          lastError: null,
          lastAppliedAt: null,
          lastReconcile: null,
          setAside: { count: 0, examples: [] },
          reconcileHeld: null,
        },
      });
    }
  }

  status(): HostStatus[] {
    return [...this.hosts.values()].map((h) => ({
      ...h.status,
      setAside: { count: h.setAside.size, examples: [...h.setAside.values()].slice(0, SET_ASIDE_EXAMPLES) },
    }));
  }

  private recordSetAside(runtime: HostRuntime, rejected: readonly Rejected[]): void {
    const now = this.now();
    for (const { ip, reason } of rejected) {
      const seen = runtime.setAside.get(ip);
      if (seen?.reason === reason) continue;
      runtime.setAside.set(ip, { ip, reason, since: seen?.since ?? now });
      this.options.logger.error(
        { host: runtime.config.name, ip, reason },
        'enforcement: ban set aside, no firewall command can carry it',
      );
    }
  }

  /**
   * Applies a batch; when the firewall refuses it, finds the refused addresses by halving, within a
   * bounded number of tries, so one bad element never holds the rest of the host's work. A host that
   * refuses everything (or a search that runs out of tries) is a host failure, not a row's.
   */
  private async applyIsolating(
    host: HostConfig,
    batch: EnforcementBatch,
    present?: readonly PresentElement[],
  ): Promise<Isolated> {
    const { enforcer } = this.options;
    const result: Isolated = { applied: new Set(), refused: new Map() };
    try {
      await enforcer.apply(host, batch, present);
      for (const ip of ipsOf(batch)) result.applied.add(ip);
      return result;
    } catch (error) {
      const units = unitsOf(batch);
      if (!(error instanceof CommandFailedError) || units.length < 2)
        return { ...result, error: error as Error };
      let tries = 4 * Math.ceil(Math.log2(units.length)) + 4;
      const suspects: Array<{ unit: EnforcementBatch; message: string }> = [];
      const queue: EnforcementBatch[][] = [units.slice(0, units.length >> 1), units.slice(units.length >> 1)];
      while (queue.length > 0) {
        const part = queue.shift()!;
        if (tries-- <= 0) return { ...result, error };
        const joined = joinUnits(part);
        try {
          // `present` was read before the first try; after a partial success it is stale.
          await enforcer.apply(host, joined);
          for (const ip of ipsOf(joined)) result.applied.add(ip);
        } catch (partError) {
          if (!(partError instanceof CommandFailedError)) return { ...result, error: partError as Error };
          if (part.length === 1) suspects.push({ unit: part[0]!, message: partError.message });
          else queue.push(part.slice(0, part.length >> 1), part.slice(part.length >> 1));
        }
      }
      if (result.applied.size === 0) return { ...result, error };
      for (const { unit, message } of suspects)
        for (const ip of ipsOf(unit)) result.refused.set(ip, `refused by the firewall: ${message}`);
      return result;
    }
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
    const { store, settings, logger } = this.options;
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
        const { batch, rejected } = planBatch(items, desired, now, this.maxTimeout(host));
        const started = this.now();
        const outcome = await this.applyIsolating(host, batch);
        const refused = [...rejected, ...[...outcome.refused].map(([ip, reason]) => ({ ip, reason }))];
        for (const { ip, reason } of refused) {
          const rows = items.filter((i) => i.ip === ip);
          await store.markFailed(rows, `set aside: ${reason}`, this.now() + SET_ASIDE_RETRY_MS);
        }
        this.recordSetAside(runtime, refused);
        const setAside = new Set(refused.map((r) => r.ip));
        // Rows whose address needed no command (already expired, planned away) count as applied.
        const applied = items.filter(
          (i) => !setAside.has(i.ip) && (outcome.applied.has(i.ip) || !outcome.error),
        );
        await store.markApplied(applied, this.now());
        for (const item of applied) runtime.setAside.delete(item.ip);
        if (outcome.error) {
          const message = outcome.error.message;
          const failed = items.filter((i) => !setAside.has(i.ip) && !outcome.applied.has(i.ip));
          await this.retryLater(failed, message);
          runtime.status = {
            ...runtime.status,
            state: 'down',
            lastError: message,
            queueDepth: failed.length,
          };
          logger.warn(
            { host: host.name, rows: failed.length, applied: applied.length, err: message },
            'enforcement: batch failed',
          );
          return;
        }
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
            setAside: refused.length,
            ms: this.now() - started,
          },
          'enforcement: batch applied',
        );
        if (items.length < settings.batchSize && !runtime.again) return;
      }
    });
  }

  /**
   * Each row gets its own next attempt, jittered from its own attempt count: rows that failed together
   * come due apart, so the batches that retry them are made up differently.
   */
  private async retryLater(rows: ReadonlyArray<OutboxItemRef>, message: string): Promise<void> {
    const { store, settings } = this.options;
    const byTime = new Map<number, OutboxItemRef[]>();
    const now = this.now();
    for (const row of rows) {
      // Whole seconds keep the number of store writes bounded by the backoff's spread.
      const at = Math.ceil((now + retryDelayMs(row.attempts + 1, settings, this.random)) / 1000) * 1000;
      const group = byTime.get(at);
      if (group) group.push(row);
      else byTime.set(at, [row]);
    }
    for (const [at, group] of byTime) await store.markFailed(group, message, at);
  }

  /** Reconciles every host concurrently; each report says what changed. */
  async reconcileAll(): Promise<ReconcileReport[]> {
    return Promise.all([...this.hosts.values()].map((runtime) => this.reconcile(runtime.config.name)));
  }

  /**
   * The operator confirms that a held host's extra elements are not lokiban's to keep: its reconcile
   * runs now and removes them.
   */
  async confirmReconcile(name: string): Promise<ReconcileReport> {
    const runtime = this.hosts.get(name);
    if (!runtime) throw new Error(`unknown host "${name}"`);
    const held = runtime.status.reconcileHeld;
    if (!held) throw new NothingHeldError(`host "${name}": no reconcile removals are held`);
    runtime.confirmed = true;
    this.options.logger.warn(
      { host: name, wouldRemove: held.wouldRemove, present: held.present },
      'enforcement: reconcile removals confirmed by an operator',
    );
    try {
      return await this.reconcile(name);
    } finally {
      // A confirmation covers the reconcile it starts; one skipped (lease elsewhere, host down) ends it.
      runtime.confirmed = false;
    }
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

  /**
   * Applies the brake to a reconcile plan: when it holds, the plan's removals are dropped (in place)
   * and the hold is returned; otherwise the plan goes as it is and any earlier hold ends. A
   * confirmation covers one reconcile.
   */
  private async brake(
    runtime: HostRuntime,
    plan: ReconcilePlan,
    present: number,
    covered: readonly OutboxItem[],
    now: number,
  ): Promise<ReconcileHold | null> {
    const confirmed = runtime.confirmed;
    runtime.confirmed = false;
    if (confirmed || !brakes(plan.removed, present)) return null;
    // Lokiban's own bans that ended are never held: unbans this pass carries from the outbox, and bans
    // the store knows on this host that were lifted or expired (firewalld has no per-element timeout,
    // so the reconcile is what expires them there).
    const own = new Set(covered.filter((item) => item.desired === 'absent').map((item) => item.ip));
    const ended = this.options.store.listBans
      ? await this.options.store.listBans(
          { host: runtime.config.name, active: false, limit: RECONCILE_CLAIM_LIMIT },
          now,
        )
      : [];
    for (const ban of ended) own.add(ban.ip);
    const owned = plan.batch.remove.filter((element) => own.has(element.ip));
    const wouldRemove = plan.removed - owned.length;
    if (!brakes(wouldRemove, present)) return null;
    plan.batch.remove = owned;
    plan.removed = owned.length;
    const earlier = runtime.status.reconcileHeld;
    if (!earlier)
      this.options.logger.error(
        { host: runtime.config.name, wouldRemove, present },
        `enforcement: reconcile would remove ${wouldRemove} of ${present} elements on host "${runtime.config.name}" that the store does not know; removing none until an operator confirms (lokiban hosts reconcile --confirm ${runtime.config.name})`,
      );
    return { wouldRemove, present, since: earlier?.since ?? this.now() };
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
        // Outbox rows read before the desired state are carried by this pass; marked applied after it
        // (a row changed since keeps its new version pending), the drain does not send them again.
        const covered = await store.claimPending(host.name, RECONCILE_CLAIM_LIMIT, now);
        const desired = new DesiredState(await store.desiredForHost(host.name, now), now);
        const plan = planReconcile(present, desired, now, settings.driftTolerance, this.maxTimeout(host));
        const hold = await this.brake(runtime, plan, present.length, covered, now);
        const refused: Rejected[] = [...desired.rejected];
        if (plan.batch.add.length + plan.batch.remove.length > 0) {
          const outcome = await this.applyIsolating(host, plan.batch, present);
          if (outcome.error) {
            // Claimed rows are due again after the same backoff a failed drain would give them.
            await this.retryLater(covered, outcome.error.message);
            throw outcome.error;
          }
          for (const [ip, reason] of outcome.refused) refused.push({ ip, reason });
        }
        // After a full pass the host holds everything else it should: only these stay set aside.
        const still = new Set(refused.map((r) => r.ip));
        for (const ip of runtime.setAside.keys()) if (!still.has(ip)) runtime.setAside.delete(ip);
        this.recordSetAside(runtime, refused);
        const reasons = new Map(refused.map((r) => [r.ip, r.reason]));
        const setAside = new Map<string, OutboxItem[]>();
        const applied: OutboxItem[] = [];
        for (const item of covered) {
          if (!reasons.has(item.ip)) applied.push(item);
          else setAside.set(item.ip, [...(setAside.get(item.ip) ?? []), item]);
        }
        for (const [ip, rows] of setAside)
          await store.markFailed(rows, `set aside: ${reasons.get(ip)}`, this.now() + SET_ASIDE_RETRY_MS);
        await store.markApplied(applied, this.now());
        return { plan, hold };
      });
      if (!result) return { ...report, skipped: 'another responder holds this host' };
      const { plan, hold } = result;
      Object.assign(report, { added: plan.added, removed: plan.removed, retimed: plan.retimed });
      if (hold) report.held = hold.wouldRemove;
      runtime.status = {
        ...runtime.status,
        state: 'up',
        lastError: null,
        reconcileHeld: hold,
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
