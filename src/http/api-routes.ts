import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { JAIL_NAME } from '../config/schema.js';
import { banLengthError, parseDuration } from '../domain/duration.js';
import { formatNetwork, parseNetwork } from '../domain/ip.js';
import type { JailSettings } from '../domain/jail.js';
import { type Ban, MANUAL_JAIL } from '../domain/types.js';
import type { AuditEvent } from '../store/port.js';
import {
  adminErrors,
  auditSchema,
  authErrors,
  banSchema,
  bansSchema,
  breakerSchema,
  errorSchema,
  hostsSchema,
  jailSchema,
  reconcileResultSchema,
  statsSchema,
  unbanResponseSchema,
} from './api-schemas.js';
import { checkApiAuth, type Role } from './auth.js';
import { CONTEXT_PLUGIN } from './context.js';
import { errorBody, HttpError } from './errors.js';
import { timed } from './metrics.js';

function iso(ms: number): string;
function iso(ms: number | null): string | null;
function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/**
 * A ban as the API shows it. On the dry-run transport a target the dispatcher completed reached no
 * firewall: it is reported `dry-run` (would apply), never `applied`.
 */
export function banJson(ban: Ban, dryRun = false) {
  return {
    ...ban,
    createdAt: iso(ban.createdAt),
    updatedAt: iso(ban.updatedAt),
    expiresAt: iso(ban.expiresAt),
    liftedAt: iso(ban.liftedAt),
    hosts: ban.hosts.map((host) => ({
      ...host,
      state: dryRun && host.state === 'applied' ? ('dry-run' as const) : host.state,
      appliedAt: iso(host.appliedAt),
    })),
  };
}

/** Audit detail fields the store keeps as epoch milliseconds; the API speaks ISO-8601 throughout. */
const AUDIT_TIME_FIELDS = ['expiresAt', 'previousExpiresAt'] as const;

function auditJson(event: AuditEvent) {
  const detail: Record<string, unknown> = { ...event.detail };
  for (const field of AUDIT_TIME_FIELDS) {
    const value = detail[field];
    // null stays null: a permanent ban has no expiry.
    if (typeof value === 'number' && Number.isFinite(value)) detail[field] = iso(value);
  }
  return { ...event, at: iso(event.at), detail };
}

function jailJson(jail: JailSettings, pipelines: readonly string[] | undefined, ipLabel: string) {
  return {
    // One query when the jail is one rule; a jail split into several rules has one pipeline per rule.
    ...(pipelines?.length === 1 ? { logql: pipelines[0] } : {}),
    ...(pipelines && pipelines.length > 0 ? { logqlParts: [...pipelines] } : {}),
    ipLabel,
    name: jail.name,
    enabled: jail.enabled,
    bantime: jail.bantime,
    findtime: jail.findtime,
    maxretry: jail.maxretry,
    ignoreip: jail.ignoreip,
    scope: jail.scope,
    ipv6prefix: jail.ipv6prefix,
    increment: jail.increment,
  };
}

/** Epoch ms or ISO-8601 text. */
const time = z.string().transform((value, ctx) => {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) {
    ctx.addIssue({ code: 'custom', message: 'expected epoch milliseconds or an ISO-8601 time' });
    return z.NEVER;
  }
  return ms;
});

const durationField = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const parsed = parseDuration(value);
  if ('error' in parsed) {
    ctx.addIssue({ code: 'custom', message: parsed.error });
    return z.NEVER;
  }
  if (parsed.seconds === 0) {
    ctx.addIssue({ code: 'custom', message: 'a ban lasts at least 1s (use -1 for permanent)' });
    return z.NEVER;
  }
  return parsed.seconds;
});

const networkField = z
  .string()
  .max(64)
  .transform((value, ctx) => {
    const net = parseNetwork(value.trim());
    if (!net) {
      ctx.addIssue({ code: 'custom', message: 'expected an IPv4/IPv6 address or CIDR' });
      return z.NEVER;
    }
    return formatNetwork(net);
  });

const jailName = z.string().regex(JAIL_NAME, 'invalid jail name');
const reason = z.string().max(512);

const apiPlugin: FastifyPluginAsync = async (plain) => {
  const fastify = plain.withTypeProvider<ZodTypeProvider>();
  const context = plain.lokiban;
  const { config, store, decisions, metrics } = context;
  const jailsWithManual = decisions.manualJails;

  const authorize = (role: Role) => async (request: FastifyRequest) => {
    const result = checkApiAuth(config.auth.api.tokens, request.headers, role);
    if (!result.ok) {
      request.log.warn({ reason: result.reason, client: request.ip }, 'API authentication failed');
      throw new HttpError(result.status, result.status === 401 ? 'authentication required' : result.reason);
    }
    request.principal = result.name;
  };
  const read = { onRequest: authorize('read') };
  const admin = { onRequest: authorize('admin') };
  // Every 401 of these routes carries the challenge, including those the error handler writes.
  fastify.addHook('onSend', async (_request, reply, payload) => {
    if (reply.statusCode === 401) reply.header('www-authenticate', 'Bearer realm="lokiban"');
    return payload;
  });

  const banQuery = z.strictObject({
    active: z.enum(['true', 'false']).optional(),
    jail: jailName.optional(),
    ip: networkField.optional(),
    host: z.string().max(253).optional(),
    from: time.optional(),
    to: time.optional(),
    limit: z.coerce.number().int().min(1).max(100_000).default(1000),
  });

  const dryRun = config.transport === 'dry-run';
  const banOut = (ban: Ban) => banJson(ban, dryRun);

  fastify.get(
    '/bans',
    {
      ...read,
      schema: {
        querystring: banQuery,
        response: { 200: bansSchema, ...authErrors },
        security: [{ bearer: [] }],
      },
    },
    async (request) => {
      const { active, ...rest } = request.query;
      const now = context.now();
      const bans = await timed(metrics, 'listBans', () =>
        store.listBans({ ...rest, ...(active === undefined ? {} : { active: active === 'true' }) }, now),
      );
      return { bans: bans.map(banOut), now: iso(now) };
    },
  );

  fastify.get(
    '/bans/:ref',
    {
      ...read,
      schema: {
        params: z.object({ ref: z.string().max(64) }),
        description: 'A ban by numeric id, or the ban history of an IP address / CIDR.',
        response: {
          200: z.union([banSchema, bansSchema.extend({ ip: z.string() })]),
          404: errorSchema,
          ...authErrors,
        },
        security: [{ bearer: [] }],
      },
    },
    async (request) => {
      const { ref } = request.params;
      const now = context.now();
      if (/^\d+$/.test(ref)) {
        const ban = await timed(metrics, 'getBan', () => store.getBan(Number(ref)));
        if (!ban) throw new HttpError(404, `ban ${ref} not found`);
        return banOut(ban);
      }
      const net = parseNetwork(ref);
      if (!net) throw new HttpError(400, 'params.ref: expected a ban id or an IP address');
      const ip = formatNetwork(net);
      const bans = await timed(metrics, 'listBans', () => store.listBans({ ip, limit: 1000 }, now));
      return { ip, bans: bans.map(banOut), now: iso(now) };
    },
  );

  fastify.post(
    '/bans',
    {
      ...admin,
      schema: {
        body: z.strictObject({
          ip: networkField,
          jail: jailName.optional(),
          duration: durationField
            .superRefine((seconds, ctx) => {
              const error = banLengthError(seconds);
              if (error) ctx.addIssue({ code: 'custom', message: error });
            })
            .optional(),
          hosts: z.array(z.string().max(64)).max(1000).optional(),
          reason: reason.optional(),
        }),
        response: { 201: banSchema, 422: errorSchema, ...adminErrors },
        security: [{ bearer: [] }],
      },
    },
    async (request, reply) => {
      const body = request.body;
      const jail = body.jail ?? MANUAL_JAIL;
      if (!Object.hasOwn(jailsWithManual, jail))
        throw new HttpError(400, `body.jail: unknown jail "${jail}"`);
      const known = new Set(config.hosts.map((host) => host.name));
      const unknown = (body.hosts ?? []).filter((host) => !known.has(host));
      if (unknown.length > 0) throw new HttpError(400, `body.hosts: unknown host "${unknown[0]}"`);
      const ban = await decisions.manualBan({
        ip: body.ip,
        jail,
        actor: request.principal ?? 'api',
        ...(body.duration === undefined ? {} : { duration: body.duration }),
        ...(body.hosts ? { hosts: body.hosts } : {}),
        ...(body.reason ? { reason: body.reason } : {}),
      });
      request.log.info({ ip: ban.ip, jail: ban.jail, banId: ban.id, actor: request.principal }, 'manual ban');
      return reply.status(201).send(banOut(ban));
    },
  );

  const unban = async (
    request: FastifyRequest,
    input: { ip: string; jail?: string | undefined; reason?: string | undefined },
  ) => {
    const lifted = await decisions.unban({
      ip: input.ip,
      actor: request.principal ?? 'api',
      now: context.now(),
      ...(input.jail ? { jail: input.jail } : {}),
      ...(input.reason ? { reason: input.reason } : {}),
    });
    request.log.info(
      { ip: input.ip, jail: input.jail, lifted: lifted.length, actor: request.principal },
      'unban',
    );
    return { ip: input.ip, unbanned: lifted.map(banOut) };
  };

  fastify.post(
    '/unban',
    {
      ...admin,
      schema: {
        body: z.strictObject({ ip: networkField, jail: jailName.optional(), reason: reason.optional() }),
        response: { 200: unbanResponseSchema, ...adminErrors },
        security: [{ bearer: [] }],
      },
    },
    async (request) => unban(request, request.body),
  );

  fastify.delete(
    '/bans/:ip',
    {
      ...admin,
      schema: {
        params: z.object({ ip: networkField }),
        querystring: z.strictObject({ jail: jailName.optional(), reason: reason.optional() }),
        response: { 200: unbanResponseSchema, ...adminErrors },
        security: [{ bearer: [] }],
      },
    },
    async (request) => unban(request, { ip: request.params.ip, ...request.query }),
  );

  const jailCounts = async () => {
    const now = context.now();
    const stats = await timed(metrics, 'stats', () =>
      store.stats({ from: 0, to: now + 1, bucketMs: now + 1 }, now),
    );
    return new Map(stats.perJail.map((row) => [row.jail, row]));
  };

  fastify.get(
    '/jails',
    {
      ...read,
      schema: {
        response: {
          200: z.object({
            jails: z.array(jailSchema),
            /** The circuit breaker (safety.maxNewBansPerMinute): open while it refused a ban in the last minute. */
            breaker: breakerSchema.nullable(),
          }),
          ...authErrors,
        },
        security: [{ bearer: [] }],
      },
    },
    async () => {
      const counts = await jailCounts();
      const names = [...Object.keys(config.jails)];
      if (counts.has(MANUAL_JAIL) && !names.includes(MANUAL_JAIL)) names.push(MANUAL_JAIL);
      const breaker = context.breakerStatus?.(context.now());
      return {
        jails: names.map((name) => ({
          ...jailJson(jailsWithManual[name]!, context.jailPipelines?.[name], config.labels.ip),
          active: counts.get(name)?.active ?? 0,
          total: counts.get(name)?.bans ?? 0,
        })),
        breaker: breaker
          ? {
              maxNewBansPerMinute: breaker.limits.global,
              perJail: { ...breaker.limits.perJail },
              newBansLastMinute: breaker.lastMinute,
              open: breaker.open.map((o) => ({ ...o, since: iso(o.since) })),
              refusedTotal: breaker.refusedTotal,
            }
          : null,
      };
    },
  );

  fastify.get(
    '/jails/:name',
    {
      ...read,
      schema: {
        params: z.object({ name: jailName }),
        response: {
          200: jailSchema.extend({ bans: z.array(banSchema), now: z.string() }),
          404: errorSchema,
          ...authErrors,
        },
        security: [{ bearer: [] }],
      },
    },
    async (request) => {
      const { name } = request.params;
      const jail = Object.hasOwn(jailsWithManual, name) ? jailsWithManual[name] : undefined;
      if (!jail) throw new HttpError(404, `jail "${name}" not found`);
      const now = context.now();
      const [counts, bans] = await Promise.all([
        jailCounts(),
        timed(metrics, 'listBans', () => store.listBans({ jail: name, active: true, limit: 100_000 }, now)),
      ]);
      return {
        ...jailJson(jail, context.jailPipelines?.[name], config.labels.ip),
        active: counts.get(name)?.active ?? bans.length,
        total: counts.get(name)?.bans ?? 0,
        bans: bans.map(banOut),
        now: iso(now),
      };
    },
  );

  fastify.get(
    '/hosts',
    { ...read, schema: { response: { 200: hostsSchema, ...authErrors }, security: [{ bearer: [] }] } },
    async () => {
      const live = new Map((context.enforcement?.hosts() ?? []).map((host) => [host.name, host]));
      return {
        transport: config.transport,
        hosts: config.hosts.map((host) => {
          const status = live.get(host.name);
          return {
            name: host.name,
            address: host.address,
            backend: host.backend,
            // Nothing is contacted on the dry-run transport: "up" would claim a firewall answered.
            state: dryRun && status?.state === 'up' ? ('dry-run' as const) : (status?.state ?? 'unknown'),
            queueDepth: status?.queueDepth ?? 0,
            lastError: status?.lastError ?? null,
            lastAppliedAt: iso(status?.lastAppliedAt ?? null),
            lastReconcile: status?.lastReconcile
              ? { ...status.lastReconcile, at: iso(status.lastReconcile.at) }
              : null,
            setAside: {
              count: status?.setAside.count ?? 0,
              examples: (status?.setAside.examples ?? []).map((e) => ({ ...e, since: iso(e.since) })),
            },
            reconcileHeld: status?.reconcileHeld
              ? { ...status.reconcileHeld, since: iso(status.reconcileHeld.since) }
              : null,
          };
        }),
      };
    },
  );

  fastify.post(
    '/hosts/:name/reconcile',
    {
      ...admin,
      schema: {
        params: z.object({ name: z.string().max(64) }),
        body: z.strictObject({ confirm: z.literal(true) }),
        response: {
          200: reconcileResultSchema,
          404: errorSchema,
          409: errorSchema,
          ...adminErrors,
        },
        security: [{ bearer: [] }],
      },
    },
    async (request) => {
      const { name } = request.params;
      if (!config.hosts.some((host) => host.name === name))
        throw new HttpError(404, `unknown host "${name}"`);
      const enforcement = context.enforcement;
      if (!enforcement?.confirmReconcile)
        throw new HttpError(409, 'enforcement does not run in this process');
      if (!enforcement.hosts().find((host) => host.name === name)?.reconcileHeld)
        throw new HttpError(409, `host "${name}": no reconcile removals are held`);
      const report = await enforcement.confirmReconcile(name);
      if (report.skipped)
        throw new HttpError(409, `host "${name}": reconcile not run, try again: ${report.skipped}`);
      request.log.warn({ host: name, ...report, actor: request.principal }, 'reconcile removals confirmed');
      return { host: name, added: report.added, removed: report.removed, retimed: report.retimed };
    },
  );

  fastify.get(
    '/stats',
    {
      ...read,
      schema: {
        querystring: z.strictObject({
          from: time.optional(),
          to: time.optional(),
          bucket: durationField.optional(),
        }),
        response: { 200: statsSchema, ...authErrors },
        security: [{ bearer: [] }],
      },
    },
    async (request) => {
      const now = context.now();
      // The store counts [from, to): a default `to` of now + 1 includes bans made this millisecond.
      const to = request.query.to ?? now + 1;
      const from = request.query.from ?? to - 86_400_000;
      if (from > to) throw new HttpError(400, 'querystring.from: must not be after "to"');
      const bucketMs =
        (request.query.bucket && request.query.bucket > 0 ? request.query.bucket : 3600) * 1000;
      if ((to - from) / bucketMs > 10_000) {
        throw new HttpError(400, 'querystring.bucket: more than 10000 buckets; use a wider bucket');
      }
      const stats = await timed(metrics, 'stats', () => store.stats({ from, to, bucketMs }, now));
      return {
        ...stats,
        series: stats.series.map((point) => ({ ...point, time: iso(point.time) })),
        topIps: stats.topIps.map((row) => ({ ...row, lastBanAt: iso(row.lastBanAt) })),
      };
    },
  );

  fastify.get(
    '/audit',
    {
      ...read,
      schema: {
        querystring: z.strictObject({
          ip: networkField.optional(),
          limit: z.coerce.number().int().min(1).max(10_000).default(100),
          after: z.coerce.number().int().min(0).optional(),
        }),
        response: { 200: auditSchema, ...authErrors },
        security: [{ bearer: [] }],
      },
    },
    async (request) => {
      const events = await timed(metrics, 'listAudit', () => store.listAudit(request.query));
      return { events: events.map(auditJson) };
    },
  );

  fastify.setNotFoundHandler((request, reply) => {
    reply.status(404).send(errorBody(404, `route ${request.method} ${request.url.split('?')[0]} not found`));
  });
};

export const apiRoutes = fp(apiPlugin, {
  name: 'lokiban-api',
  dependencies: [CONTEXT_PLUGIN],
  encapsulate: true,
});
