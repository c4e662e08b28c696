import type { DecisionPolicy } from '../../src/domain/policy.js';
import type { AlertOutcome, Ban, BatchItem, ManualBanRequest, Source } from '../../src/domain/types.js';
import type { AppStore } from '../../src/http/app.js';
import type {
  AuditEvent,
  BanQuery,
  BurstRecord,
  RecordedBatch,
  Stats,
  StatsQuery,
} from '../../src/store/port.js';

/**
 * An in-memory Store for HTTP unit tests: enough semantics (dedupe, ban, extend, unban, audit) to
 * check what the routes send and answer. The real semantics are tested against SQLite elsewhere.
 */
export class FakeStore implements AppStore {
  readonly bans: Ban[] = [];
  readonly audit: AuditEvent[] = [];
  readonly batches: Array<{ items: BatchItem[]; source: Source }> = [];
  private readonly offences = new Set<string>();
  /** Makes the next store call throw, as a full disk or a lost database would. */
  failNext: Error | undefined;
  /** Delays recordBatch so a test can observe that the answer waits for it. */
  delayMs = 0;
  pingFails = false;

  private check(): void {
    const failure = this.failNext;
    this.failNext = undefined;
    if (failure) throw failure;
  }

  private addAudit(kind: string, actor: string, ban: Ban | undefined, at: number): void {
    this.audit.push({
      id: this.audit.length + 1,
      at,
      kind,
      actor,
      ip: ban?.ip ?? null,
      jail: ban?.jail ?? null,
      banId: ban?.id ?? null,
      detail: {},
    });
  }

  private active(ip: string, jail: string | undefined, now: number): Ban[] {
    return this.bans.filter(
      (ban) =>
        ban.ip === ip &&
        (jail === undefined || ban.jail === jail) &&
        ban.liftedAt === null &&
        (ban.expiresAt === null || ban.expiresAt > now),
    );
  }

  private newBan(
    fields: Pick<Ban, 'ip' | 'jail' | 'source' | 'summary' | 'sample'>,
    seconds: number,
    hosts: string[],
    now: number,
  ): Ban {
    const ban: Ban = {
      id: this.bans.length + 1,
      ...fields,
      level: this.bans.filter((b) => b.ip === fields.ip && b.jail === fields.jail).length,
      createdAt: now,
      updatedAt: now,
      expiresAt: seconds === -1 ? null : now + seconds * 1000,
      liftedAt: null,
      liftedBy: null,
      offences: 1,
      hosts: hosts.map((host) => ({
        host,
        desired: 'present',
        state: 'pending',
        attempts: 0,
        lastError: null,
        appliedAt: null,
      })),
    };
    this.bans.push(ban);
    return ban;
  }

  async ping(): Promise<void> {
    if (this.pingFails) throw new Error('database is locked');
  }

  async findBursts(
    queries: ReadonlyArray<{ fingerprint: string; at: number }>,
  ): Promise<Array<BurstRecord | undefined>> {
    this.check();
    return queries.map(({ fingerprint, at }) => {
      const starts = [...this.offences]
        .map((key) => key.split('|'))
        .filter(([f, t]) => f === fingerprint && Number(t) <= at)
        .map(([, t]) => Number(t));
      return starts.length > 0 ? { startsAt: Math.max(...starts), endedAt: null } : undefined;
    });
  }

  async recordBatch(items: BatchItem[], policy: DecisionPolicy, source: Source): Promise<RecordedBatch> {
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    this.check();
    this.batches.push({ items, source });
    const now = policy.now();
    const wake = new Set<string>();
    const outcomes = items.map((item): AlertOutcome => {
      if (item.kind === 'skip') return item.outcome;
      if (item.kind === 'resolved') {
        return { index: item.index, outcome: 'resolved-recorded', fingerprint: item.fingerprint };
      }
      const { offence } = item;
      const key = `${offence.fingerprint}|${offence.startsAt}`;
      if (this.offences.has(key)) {
        return { index: item.index, outcome: 'duplicate', fingerprint: offence.fingerprint };
      }
      this.offences.add(key);
      const jail = policy.jails[offence.jail]!;
      const [existing] = this.active(offence.ip, offence.jail, now);
      if (existing) {
        existing.offences += 1;
        existing.updatedAt = now;
        this.addAudit('extend', source, existing, now);
        return {
          index: item.index,
          outcome: 'extended',
          ip: existing.ip,
          jail: existing.jail,
          banId: existing.id,
        };
      }
      const ban = this.newBan(
        {
          ip: offence.ip,
          jail: offence.jail,
          source,
          summary: offence.summary ?? null,
          sample: offence.sample ?? null,
        },
        jail.bantime,
        policy.targetsFor(jail, offence.originHost),
        now,
      );
      this.addAudit('ban', source, ban, now);
      for (const target of ban.hosts) wake.add(target.host);
      return {
        index: item.index,
        outcome: 'banned',
        fingerprint: offence.fingerprint,
        ip: ban.ip,
        jail: ban.jail,
        banId: ban.id,
        level: ban.level,
        until: ban.expiresAt === null ? 'permanent' : new Date(ban.expiresAt).toISOString(),
      };
    });
    return { outcomes, wake: [...wake] };
  }

  async manualBan(request: ManualBanRequest, policy: DecisionPolicy): Promise<{ ban: Ban; wake: string[] }> {
    this.check();
    const now = policy.now();
    const jail = policy.jails[request.jail]!;
    const ban = this.newBan(
      { ip: request.ip, jail: request.jail, source: 'manual', summary: request.reason ?? null, sample: null },
      request.duration ?? jail.bantime,
      request.hosts ?? policy.targetsFor(jail, undefined),
      now,
    );
    this.addAudit('ban', request.actor, ban, now);
    return { ban, wake: ban.hosts.map((target) => target.host) };
  }

  async unban(
    ip: string,
    opts: { jail?: string; actor: string; reason?: string; now: number },
  ): Promise<{ bans: Ban[]; wake: string[] }> {
    this.check();
    const lifted = this.active(ip, opts.jail, opts.now);
    for (const ban of lifted) {
      ban.liftedAt = opts.now;
      ban.liftedBy = opts.actor;
      for (const host of ban.hosts) host.desired = 'absent';
      this.addAudit('unban', opts.actor, ban, opts.now);
    }
    return { bans: lifted, wake: lifted.flatMap((ban) => ban.hosts.map((target) => target.host)) };
  }

  async getBan(id: number): Promise<Ban | undefined> {
    this.check();
    return this.bans.find((ban) => ban.id === id);
  }

  async listBans(query: BanQuery, now: number): Promise<Ban[]> {
    this.check();
    return this.bans
      .filter((ban) => {
        const active = ban.liftedAt === null && (ban.expiresAt === null || ban.expiresAt > now);
        if (query.active !== undefined && active !== query.active) return false;
        if (query.jail !== undefined && ban.jail !== query.jail) return false;
        if (query.ip !== undefined && ban.ip !== query.ip) return false;
        if (query.host !== undefined && !ban.hosts.some((h) => h.host === query.host)) return false;
        if (query.from !== undefined && ban.createdAt < query.from) return false;
        if (query.to !== undefined && ban.createdAt > query.to) return false;
        return true;
      })
      .slice(0, query.limit ?? 1000);
  }

  async activeBansPerJail(now: number): Promise<Array<{ jail: string; active: number }>> {
    return (await this.stats({ from: now, to: now, bucketMs: 1 }, now)).perJail.map(({ jail, active }) => ({
      jail,
      active,
    }));
  }

  async stats(_query: StatsQuery, now: number): Promise<Stats> {
    this.check();
    const perJail = new Map<string, { jail: string; bans: number; active: number }>();
    for (const ban of this.bans) {
      const row = perJail.get(ban.jail) ?? { jail: ban.jail, bans: 0, active: 0 };
      row.bans += 1;
      if (this.active(ban.ip, ban.jail, now).includes(ban)) row.active += 1;
      perJail.set(ban.jail, row);
    }
    return { series: [], topIps: [], topPrefixes: [], perJail: [...perJail.values()], perHost: [] };
  }

  async listAudit(query: { ip?: string; limit?: number; after?: number }): Promise<AuditEvent[]> {
    this.check();
    return this.audit
      .filter((event) => (query.ip === undefined || event.ip === query.ip) && event.id > (query.after ?? 0))
      .slice(0, query.limit ?? 100);
  }
}
