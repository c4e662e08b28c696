import { randomUUID } from 'node:crypto';
import { setTimeout as pause } from 'node:timers/promises';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { z } from 'zod';
import type { auditLokiSchema } from '../config/schema.js';
import { backoffDelay } from '../lib/backoff.js';
import type { AuditEvent, Store } from '../store/port.js';
import { formatAuditLine } from './logfmt.js';

type AuditLokiConfig = z.output<typeof auditLokiSchema>;

export type ShipperStore = Pick<Store, 'listAudit' | 'getBan' | 'acquireLease' | 'releaseLease'>;

interface ShipperLogger {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

export interface LokiShipperOptions {
  store: ShipperStore;
  logger: ShipperLogger;
  /** Where the shipper's series go (the app's registry, so /metrics shows them). */
  registry?: Registry;
  /** Loki's base URL; the push path is appended. */
  url: string;
  tenant?: string;
  bearer?: string;
  basic?: { username: string; password: string };
  /** Extra static stream labels, on top of {job="lokiban", stream="audit"}. */
  labels?: Readonly<Record<string, string>>;
  events?: readonly string[];
  batchSize?: number;
  flushIntervalMs?: number;
  lookbackMs?: number;
  retryMinMs?: number;
  retryMaxMs?: number;
  timeoutMs?: number;
  /** How long a hole in the event ids is waited for before it is taken as a rolled-back insert. */
  gapWaitMs?: number;
  now?: () => number;
}

export interface LokiShipper {
  start(): void;
  /** Stops polling and aborts an in-flight push; what was not pushed is re-read within `lookback` at the next start. */
  stop(): Promise<void>;
  /** Resolves once every event recorded so far has been pushed or given up (tests, shutdown checks). */
  idle(): Promise<void>;
}

/** Several replicas on one Postgres share the trail: one of them pushes, the others stand by. */
const LEASE = 'audit-loki';

export const AUDIT_STREAM = { job: 'lokiban', stream: 'audit' } as const;

class Stopped extends Error {}

export function createLokiShipper(options: LokiShipperOptions): LokiShipper {
  const { store, logger } = options;
  const now = options.now ?? Date.now;
  const batchSize = options.batchSize ?? 500;
  const flushIntervalMs = options.flushIntervalMs ?? 1000;
  const lookbackMs = options.lookbackMs ?? 3_600_000;
  const retryMinMs = options.retryMinMs ?? 1000;
  const retryMaxMs = options.retryMaxMs ?? 60_000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const gapWaitMs = options.gapWaitMs ?? 10_000;
  const kinds = new Set(options.events ?? ['ban', 'extend', 'unban']);
  const stream = { ...options.labels, ...AUDIT_STREAM };
  const pushUrl = `${options.url.replace(/\/+$/, '')}/loki/api/v1/push`;
  const owner = `audit-${randomUUID()}`;
  const leaseTtlMs = Math.max(30_000, 3 * retryMaxMs);

  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'lokiban' };
  if (options.tenant) headers['x-scope-orgid'] = options.tenant;
  if (options.bearer) headers.authorization = `Bearer ${options.bearer}`;
  if (options.basic) {
    const token = Buffer.from(`${options.basic.username}:${options.basic.password}`).toString('base64');
    headers.authorization = `Basic ${token}`;
  }

  const registers = options.registry ? [options.registry] : [];
  const shipped = new Counter({
    name: 'lokiban_audit_loki_shipped_total',
    help: 'Audit events Loki accepted (2xx).',
    registers,
  });
  const failed = new Counter({
    name: 'lokiban_audit_loki_failed_total',
    help: 'Failed push requests by reason: retried (server_error, too_many_requests, network) or given up (rejected).',
    labelNames: ['reason'] as const,
    registers,
  });
  const dropped = new Counter({
    name: 'lokiban_audit_loki_dropped_total',
    help: 'Audit events given up after Loki rejected their push with a 4xx other than 401, 403, 404 or 429.',
    registers,
  });
  // Age of the oldest event not yet pushed; 0 when caught up. Set by the loop, so it also grows
  // while Loki is down.
  let oldestPendingAt: number | undefined;
  new Gauge({
    name: 'lokiban_audit_loki_lag_seconds',
    help: 'Age of the oldest audit event not yet pushed to Loki (0 when caught up).',
    registers,
    collect() {
      this.set(oldestPendingAt === undefined ? 0 : Math.max(0, (now() - oldestPendingAt) / 1000));
    },
  });

  let cursor: number | undefined;
  let gap: { after: number; since: number } | undefined;
  let stopping = false;
  let loop: Promise<void> | undefined;
  const abort = new AbortController();
  let steps = 0;
  let idleWaiters: Array<{ after: number; wake: () => void }> = [];

  async function sleep(ms: number): Promise<void> {
    try {
      await pause(ms, undefined, { signal: abort.signal });
    } catch {
      // The only way a timer rejects: stop() aborted it.
      throw new Stopped();
    }
  }

  /**
   * The store has no place for a cursor (the Store port offers none, and adding one would be a
   * contract change for every store), and Loki keeps one copy of entries that match in stream,
   * timestamp and line. So a start re-pushes the last `lookback` of events rather than tracking
   * what was sent: an event pushed twice is the same entry, one never pushed is found again. The
   * default hour matches Loki's default window for out-of-order writes (half of max_chunk_age); older
   * entries would be refused as too far behind anyway. Ids grow with time, so a binary search
   * over them finds the first event inside the window in O(log n) one-row reads.
   */
  async function findStart(): Promise<number> {
    const [latest] = await store.listAudit({ limit: 1 });
    if (!latest) return 0;
    const since = now() - lookbackMs;
    let lo = 0;
    let hi = latest.id;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const [next] = await store.listAudit({ after: mid, limit: 1 });
      if (!next || next.at >= since) hi = mid;
      else lo = next.id;
    }
    return lo;
  }

  /**
   * Events up to the first hole in the ids. Postgres hands out ids when a row is inserted, not when
   * its transaction commits, so a lower id may still appear after a higher one is visible: moving
   * the cursor past it would lose it. A hole that stays longer than gapWaitMs was a rollback.
   */
  function contiguous(events: AuditEvent[], after: number): AuditEvent[] {
    let previous = after;
    for (const [index, event] of events.entries()) {
      if (event.id !== previous + 1) {
        if (gap?.after === previous && now() - gap.since >= gapWaitMs) {
          gap = undefined;
        } else {
          if (gap?.after !== previous) gap = { after: previous, since: now() };
          return events.slice(0, index);
        }
      }
      previous = event.id;
    }
    return events;
  }

  async function lines(events: AuditEvent[]): Promise<Array<[string, string]>> {
    const values: Array<[string, string]> = [];
    for (const event of events) {
      if (!kinds.has(event.kind)) continue;
      const summary =
        event.kind === 'ban' && event.banId !== null ? (await store.getBan(event.banId))?.summary : undefined;
      // Nanoseconds as a decimal string, as the push API wants: the event's own time, so a re-push is
      // the identical entry.
      values.push([(BigInt(event.at) * 1_000_000n).toString(), formatAuditLine(event, { summary })]);
    }
    return values;
  }

  type PushResult = 'ok' | 'rejected' | 'lease-lost';

  /** Pushes until Loki answers 2xx or rejects the batch for good; retries everything else with backoff. */
  async function push(values: Array<[string, string]>): Promise<PushResult> {
    const body = JSON.stringify({ streams: [{ stream, values }] });
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0 && !(await store.acquireLease(LEASE, owner, leaseTtlMs, now()))) return 'lease-lost';
      let status: number | undefined;
      let detail = '';
      let retryAfterMs: number | undefined;
      try {
        const response = await fetch(pushUrl, {
          method: 'POST',
          headers,
          body,
          signal: AbortSignal.any([abort.signal, AbortSignal.timeout(timeoutMs)]),
        });
        status = response.status;
        detail = (await response.text()).slice(0, 500);
        const retryAfter = Number(response.headers.get('retry-after'));
        if (Number.isFinite(retryAfter) && retryAfter > 0) retryAfterMs = retryAfter * 1000;
      } catch (error) {
        if (abort.signal.aborted) throw new Stopped();
        detail = (error as Error).message;
      }
      if (status !== undefined && status >= 200 && status < 300) return 'ok';
      // 401/403/404 mean lokiban's credentials, tenant or URL are wrong, not the events: keep them and
      // retry, so fixing the configuration delivers the backlog. Other 4xx reject the events themselves.
      const misconfigured = status === 401 || status === 403 || status === 404;
      if (status !== undefined && status >= 400 && status < 500 && status !== 429 && !misconfigured) {
        failed.inc({ reason: 'rejected' });
        dropped.inc(values.length);
        logger.error(
          { status, response: detail, events: values.length, url: pushUrl },
          'Loki rejected audit events; they are dropped (fix the cause: labels, limits, auth, tenant)',
        );
        return 'rejected';
      }
      const reason =
        status === undefined
          ? 'network'
          : status === 429
            ? 'too_many_requests'
            : misconfigured
              ? 'unauthorized'
              : 'server_error';
      failed.inc({ reason });
      const delay = Math.min(
        retryMaxMs,
        Math.max(retryAfterMs ?? 0, backoffDelay(attempt + 1, retryMinMs, retryMaxMs, Math.random)),
      );
      logger.warn(
        {
          status,
          error: status === undefined ? detail : undefined,
          attempt: attempt + 1,
          retryInMs: Math.round(delay),
        },
        'audit push to Loki failed; retrying',
      );
      await sleep(delay);
    }
  }

  /** One read-and-push step; true when a full batch went out and more may be waiting. */
  async function step(): Promise<boolean> {
    if (!(await store.acquireLease(LEASE, owner, leaseTtlMs, now()))) {
      // Another replica pushes; if this one takes over later it starts from the lookback again.
      cursor = undefined;
      oldestPendingAt = undefined;
      return false;
    }
    cursor ??= await findStart();
    const read = await store.listAudit({ after: cursor, limit: batchSize });
    const events = contiguous(read, cursor);
    oldestPendingAt = read[0]?.at;
    if (events.length === 0) return false;
    const values = await lines(events);
    const result = values.length === 0 ? 'ok' : await push(values);
    if (result === 'lease-lost') {
      cursor = undefined;
      return false;
    }
    if (result === 'ok') shipped.inc(values.length);
    // Only now, after a 2xx (or a final rejection, already logged and counted), does the cursor move.
    cursor = events[events.length - 1]!.id;
    oldestPendingAt = read[events.length]?.at;
    return events.length === read.length && read.length === batchSize;
  }

  async function run(): Promise<void> {
    let failures = 0;
    while (!stopping) {
      try {
        const started = ++steps;
        const more = await step();
        failures = 0;
        if (!more) {
          // Caught up as of a read that began after the waiter asked: everything it saw is pushed.
          if (oldestPendingAt === undefined) {
            for (const waiter of idleWaiters.filter((w) => w.after < started)) waiter.wake();
            idleWaiters = idleWaiters.filter((w) => w.after >= started);
          }
          await sleep(flushIntervalMs);
        }
      } catch (error) {
        if (error instanceof Stopped) return;
        failures++;
        logger.warn({ err: error }, 'reading the audit trail failed; retrying');
        try {
          await sleep(Math.min(retryMaxMs, retryMinMs * 2 ** Math.min(failures, 20)));
        } catch {
          return;
        }
      }
    }
  }

  return {
    start() {
      if (loop) return;
      logger.info({ url: pushUrl, tenant: options.tenant, lookbackMs }, 'pushing the audit trail to Loki');
      loop = run();
    },
    async stop() {
      stopping = true;
      abort.abort();
      await loop;
      for (const waiter of idleWaiters) waiter.wake();
      idleWaiters = [];
      await store.releaseLease(LEASE, owner).catch(() => undefined);
    },
    idle() {
      return new Promise((resolve) => {
        if (stopping) resolve();
        else idleWaiters.push({ after: steps, wake: resolve });
      });
    },
  };
}

/** The shipper `audit.loki` asks for, or undefined when the audit trail stays in the store only. */
export function auditShipperFromConfig(
  config: { audit?: { loki?: AuditLokiConfig | undefined } | undefined },
  context: { store: ShipperStore; logger: ShipperLogger; registry?: Registry },
): LokiShipper | undefined {
  const loki = config.audit?.loki;
  if (!loki) return undefined;
  return createLokiShipper({
    ...context,
    url: loki.url,
    ...(loki.tenant ? { tenant: loki.tenant } : {}),
    ...(loki.bearer ? { bearer: loki.bearer } : {}),
    ...(loki.basic ? { basic: loki.basic } : {}),
    labels: loki.labels,
    events: loki.events,
    batchSize: loki.batchSize,
    flushIntervalMs: loki.flushInterval * 1000,
    lookbackMs: loki.lookback * 1000,
    retryMinMs: loki.retryMin * 1000,
    retryMaxMs: loki.retryMax * 1000,
    timeoutMs: loki.timeout * 1000,
  });
}
