import { z } from 'zod';

/**
 * Response shapes, for the OpenAPI document. Answers are serialised with JSON.stringify, not checked
 * against these at run time (a 100,000-ban list must not pay for validation); tests pin the shapes.
 */
const isoTime = z.string().describe('ISO-8601 UTC time');

export const errorSchema = z
  .object({ statusCode: z.number().int(), error: z.string(), message: z.string() })
  .describe('Error');

export const banSchema = z
  .object({
    id: z.number().int(),
    ip: z.string(),
    jail: z.string(),
    level: z.number().int(),
    createdAt: isoTime,
    updatedAt: isoTime,
    expiresAt: isoTime.nullable().describe('null = permanent'),
    liftedAt: isoTime.nullable(),
    liftedBy: z.string().nullable(),
    offences: z.number().int(),
    source: z.enum(['alertmanager', 'grafana', 'loki-tail', 'manual', 'api']),
    summary: z.string().nullable(),
    sample: z.string().nullable(),
    hosts: z.array(
      z.object({
        host: z.string(),
        desired: z.enum(['present', 'absent']),
        /** `dry-run`: the responder runs the dry-run transport; the change would apply, nothing was sent. */
        state: z.enum(['pending', 'applied', 'failed', 'dry-run']),
        attempts: z.number().int(),
        lastError: z.string().nullable(),
        appliedAt: isoTime.nullable(),
      }),
    ),
  })
  .describe('Ban');

export const bansSchema = z.object({ bans: z.array(banSchema), now: isoTime });

export const outcomeSchema = z.object({
  index: z.number().int(),
  outcome: z.enum([
    'banned',
    'extended',
    'unchanged',
    'duplicate',
    'ignored-allowlisted',
    'ignored-never-ban',
    'ignored-no-ip',
    'ignored-invalid-ip',
    'ignored-unknown-jail',
    'ignored-jail-disabled',
    'ignored-no-targets',
    'ignored-breaker',
    'resolved-recorded',
  ]),
  fingerprint: z.string().optional(),
  ip: z.string().optional(),
  jail: z.string().optional(),
  banId: z.number().int().optional(),
  until: z.string().optional().describe('ISO time the ban ends, or "permanent"'),
  level: z.number().int().optional(),
  reason: z.string().optional(),
});

export const webhookResponseSchema = z.object({
  received: z.number().int(),
  results: z.array(outcomeSchema),
});

export const jailSchema = z.object({
  name: z.string(),
  logql: z
    .string()
    .optional()
    .describe("the jail's LogQL log pipeline (what its rule counts) when it is one rule, for Explore"),
  logqlParts: z
    .array(z.string())
    .optional()
    .describe('one log pipeline per rule of the jail (together: every line it counts); absent for manual'),
  ipLabel: z.string().describe('the label that pipeline extracts the address into'),
  enabled: z.boolean(),
  bantime: z.number().int().describe('seconds; -1 permanent'),
  findtime: z.number().int(),
  maxretry: z.number().int(),
  ignoreip: z.array(z.string()),
  scope: z.union([z.enum(['all', 'origin']), z.array(z.string())]),
  ipv6prefix: z.number().int(),
  increment: z.object({
    enabled: z.boolean(),
    factor: z.number(),
    multipliers: z.array(z.number()),
    maxtime: z.number().int(),
    rndtime: z.number().int(),
    overalljails: z.boolean(),
    memory: z.number().int(),
  }),
  active: z.number().int(),
  total: z.number().int(),
});

export const unbanResponseSchema = z.object({ ip: z.string(), unbanned: z.array(banSchema) });

export const hostsSchema = z.object({
  transport: z.enum(['dry-run', 'ssh', 'local']),
  hosts: z.array(
    z.object({
      name: z.string(),
      address: z.string(),
      backend: z.string(),
      /** `dry-run` on the dry-run transport: the host is never contacted. */
      state: z.enum(['up', 'down', 'unknown', 'dry-run']),
      queueDepth: z.number().int(),
      lastError: z.string().nullable(),
      lastAppliedAt: isoTime.nullable(),
      lastReconcile: z
        .object({
          at: isoTime,
          added: z.number().int(),
          removed: z.number().int(),
          retimed: z.number().int(),
        })
        .nullable(),
      /** Bans no firewall command can carry on this host: recorded, retried hourly, never holding others. */
      setAside: z.object({
        count: z.number().int(),
        examples: z.array(z.object({ ip: z.string(), reason: z.string(), since: isoTime })),
      }),
      /**
       * Set while the reconcile brake holds this host's removals: the store does not know most of what
       * the host holds. Confirm with `lokiban hosts reconcile --confirm HOST`.
       */
      reconcileHeld: z
        .object({ wouldRemove: z.number().int(), present: z.number().int(), since: isoTime })
        .nullable(),
    }),
  ),
});

export const reconcileResultSchema = z.object({
  host: z.string(),
  added: z.number().int(),
  removed: z.number().int(),
  retimed: z.number().int(),
});

export const statsSchema = z.object({
  series: z.array(z.object({ time: isoTime, jail: z.string(), bans: z.number().int() })),
  topIps: z.array(z.object({ ip: z.string(), bans: z.number().int(), lastBanAt: isoTime })),
  topPrefixes: z.array(z.object({ prefix: z.string(), bans: z.number().int() })),
  perJail: z.array(z.object({ jail: z.string(), bans: z.number().int(), active: z.number().int() })),
  perHost: z.array(z.object({ host: z.string(), bans: z.number().int(), active: z.number().int() })),
});

export const auditSchema = z.object({
  events: z.array(
    z.object({
      id: z.number().int(),
      at: isoTime,
      kind: z.string(),
      actor: z.string(),
      ip: z.string().nullable(),
      jail: z.string().nullable(),
      banId: z.number().int().nullable(),
      detail: z.record(z.string(), z.unknown()),
    }),
  ),
});

/** Error answers every authenticated route can give. */
export const authErrors = { 400: errorSchema, 401: errorSchema, 500: errorSchema };
export const adminErrors = { ...authErrors, 403: errorSchema };

/** The circuit breaker (safety.maxNewBansPerMinute): open while it refused a ban in the last minute. */
export const breakerSchema = z.object({
  maxNewBansPerMinute: z.number().int(),
  perJail: z.record(z.string(), z.number().int()),
  newBansLastMinute: z.number().int(),
  open: z.array(
    z.object({
      scope: z.string(),
      limit: z.number().int(),
      refused: z.number().int(),
      since: z.string(),
    }),
  ),
  refusedTotal: z.number().int(),
});
