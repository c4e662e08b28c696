import { z } from 'zod';
import { banLengthError, MAX_BAN_SECONDS, parseDuration } from '../domain/duration.js';
import { parseNetwork } from '../domain/ip.js';
import { hostKeyMarkerError } from '../lib/known-hosts.js';

export const JAIL_NAME = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
export const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Seconds; accepts `30s 10m 1h 1d 1w`, compounds, plain seconds and `-1` (permanent) where allowed. */
const duration = (opts: { permanent?: boolean } = {}) =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    const parsed = parseDuration(value);
    if ('error' in parsed) {
      ctx.addIssue({ code: 'custom', message: parsed.error });
      return z.NEVER;
    }
    if (parsed.seconds === -1 && !opts.permanent) {
      ctx.addIssue({ code: 'custom', message: 'a permanent (-1) value is not allowed here' });
      return z.NEVER;
    }
    return parsed.seconds;
  });

/** A ban length: a duration no longer than the maximum every firewall backend holds. */
const banLength = (opts: { permanent?: boolean } = {}) =>
  duration(opts).superRefine((seconds, ctx) => {
    const error = banLengthError(seconds);
    if (error) ctx.addIssue({ code: 'custom', message: error });
  });

/** fail2ban's default formula doubles up to 2^20 (see domain/escalation.ts). */
const MAX_DOUBLING = 2 ** 20;

/**
 * The longest ban a jail's settings can produce: its bantime, or after escalation maxtime (when set)
 * or the formula's largest step, plus rndtime. Undefined for a permanent bantime.
 */
export function longestBan(
  bantime: number,
  increment: { enabled: boolean; factor: number; multipliers: number[]; maxtime: number; rndtime: number },
): number | undefined {
  if (bantime === -1) return undefined;
  if (!increment.enabled) return bantime;
  const step = increment.multipliers.length > 0 ? Math.max(...increment.multipliers) : MAX_DOUBLING;
  const escalated = increment.maxtime > 0 ? increment.maxtime : bantime * increment.factor * step;
  return Math.max(bantime, escalated) + increment.rndtime;
}

const network = z.string().refine((value) => parseNetwork(value) !== undefined, {
  message: 'not an IP address or CIDR',
});

/** `HOST:PORT`; port 0 asks the system for a free port (tests), anything above 65535 cannot be bound. */
export const LISTEN = /^(\[[0-9a-fA-F:]+\]|[0-9.]+|[A-Za-z0-9.-]+):(\d{1,5})$/;
const listen = z
  .string()
  .regex(LISTEN, 'expected HOST:PORT, e.g. 127.0.0.1:9797')
  .refine((value) => Number(LISTEN.exec(value)?.[2] ?? 0) <= 65_535, 'the port must be 0 to 65535');

const scope = z.union([
  z.literal('all'),
  z.literal('origin'),
  z.array(z.string().regex(HOST_NAME, 'invalid host name')).min(1),
]);

const incrementFields = {
  enabled: z.boolean(),
  factor: z.number().positive(),
  multipliers: z.array(z.number().positive()),
  maxtime: banLength(),
  rndtime: banLength(),
  overalljails: z.boolean(),
  memory: duration(),
};

const increment = z.strictObject(incrementFields);

export const defaultsSchema = z
  .strictObject({
    bantime: banLength({ permanent: true }).default(600),
    findtime: duration().default(600),
    maxretry: z.number().int().min(1).default(5),
    ignoreip: z.array(network).default(['127.0.0.0/8', '::1']),
    scope: scope.default('all'),
    ipv6prefix: z.number().int().min(32).max(128).default(128),
    increment: z
      .strictObject({
        enabled: incrementFields.enabled.default(true),
        factor: incrementFields.factor.default(1),
        multipliers: incrementFields.multipliers.default([]),
        maxtime: incrementFields.maxtime.default(604_800),
        rndtime: incrementFields.rndtime.default(0),
        overalljails: incrementFields.overalljails.default(false),
        memory: incrementFields.memory.default(2_592_000),
      })
      .prefault({}),
  })
  .prefault({});

/** Per-jail settings; anything left out comes from `defaults`. */
const jail = z.strictObject({
  enabled: z.boolean().default(true),
  bantime: banLength({ permanent: true }).optional(),
  findtime: duration().optional(),
  maxretry: z.number().int().min(1).optional(),
  ignoreip: z.array(network).optional(),
  scope: scope.optional(),
  ipv6prefix: z.number().int().min(32).max(128).optional(),
  increment: increment.partial().optional(),
  /** LogQL stream selector override for this jail's rule, e.g. `{unit="ssh.service"}`. */
  selector: z.string().min(2).optional(),
  /** Circuit breaker for this jail: most new bans per rolling minute (0 = only the global limit). */
  maxNewBansPerMinute: z.number().int().min(0).max(1_000_000).optional(),
});

const secret = z.string().min(16, 'secrets must be at least 16 characters');

const webhookAuth = z
  .strictObject({
    bearer: secret.optional(),
    basic: z.strictObject({ username: z.string().min(1), password: secret }).optional(),
    grafanaHmac: z
      .strictObject({
        secret,
        maxSkew: duration().default(300),
        /**
         * A signature without Grafana's timestamp header can be replayed forever: refused unless this is
         * turned off (the contact point `lokiban rules render` writes sends the timestamp).
         */
        requireTimestamp: z.boolean().default(true),
      })
      .optional(),
  })
  .refine((auth) => auth.bearer || auth.basic || auth.grafanaHmac, {
    message: 'configure at least one of bearer, basic or grafanaHmac: the webhook is never open',
  });

const apiToken = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
  token: secret,
  role: z.enum(['read', 'admin']),
});

export const TEMPLATE_PLACEHOLDERS: ReadonlySet<string> = new Set(['ip', 'family', 'seconds', 'jail']);

/** One argv element of a template command; `{ip}`, `{family}`, `{seconds}`, `{jail}` are replaced by validated values. */
const templateArg = z
  .string()
  .min(1)
  .max(4096)
  .refine((arg) => [...arg.matchAll(/\{([^}]*)\}/g)].every((m) => TEMPLATE_PLACEHOLDERS.has(m[1]!)), {
    message: 'unknown placeholder; use {ip}, {family}, {seconds} or {jail}',
  });
const templateCommand = z.array(templateArg).min(1, 'a command needs at least the program');

/** Per-host commands for `backend: template`; each runs once per element, as an argument vector. */
const hostTemplate = z.strictObject({
  add: templateCommand,
  remove: templateCommand,
  /** Optional setup command run by `lokiban hosts setup`. */
  setup: templateCommand.optional(),
  /** Optional check command run by `lokiban hosts check` (default: the add command's program with --version). */
  check: templateCommand.optional(),
});

const hostKey = z
  .string()
  .superRefine((value, ctx) => {
    const error = hostKeyMarkerError(value);
    if (error) ctx.addIssue({ code: 'custom', message: error });
  })
  .refine(
    (value) =>
      /^SHA256:[A-Za-z0-9+/]{43}=?$/.test(value.trim()) ||
      /^(@\S+\s+)?\S+\s+(ssh-|ecdsa-|sk-)\S*\s+[A-Za-z0-9+/=]+/.test(value.trim()),
    { message: 'expected a "SHA256:…" fingerprint (ssh-keygen -lf) or a known_hosts line' },
  );

export const hostSchema = z.strictObject({
  name: z.string().regex(HOST_NAME, 'invalid host name'),
  address: z.string().min(1).max(253),
  port: z.number().int().min(1).max(65_535).default(22),
  user: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'invalid user name')
    .default('lokiban'),
  privateKey: z.string().optional(),
  agent: z.string().optional(),
  /** Pinned host key: a `SHA256:…` fingerprint or a known_hosts line. Required for `transport: ssh`. */
  hostKey: hostKey.optional(),
  sudo: z.boolean().default(true),
  /**
   * nftables only. `direct`: run nft itself (sudoers allows `nft -f -`, which amounts to root).
   * `helper`: run the fixed helper `hosts setup` installs, which accepts only lokiban's own table.
   */
  privilege: z.enum(['direct', 'helper']).default('direct'),
  /** Where the helper lives on the host (root-owned directories only). */
  helperPath: z
    .string()
    .regex(/^(\/[A-Za-z0-9._-]+)+$/, 'expected an absolute path of letters, digits, ".", "_" and "-"')
    .refine((path) => !path.split('/').includes('..'), 'expected a path without ".."')
    .default('/usr/local/libexec/lokiban-nft'),
  backend: z.enum(['nftables', 'ipset', 'firewalld', 'template']).default('nftables'),
  /** Alert label values that name this host (e.g. `host: web1`); used by scope `origin`. */
  match: z.record(z.string(), z.string()).default({}),
  /** Commands for `backend: template`. */
  template: hostTemplate.optional(),
});

/** Dispatcher and reconciler tuning; every field has a safe default. */
export const enforcementSchema = z
  .strictObject({
    /** Most outbox rows sent to one host in one firewall transaction. */
    batchSize: z.number().int().min(1).max(100_000).default(5_000),
    /** How often pending work is looked for even without a notification. */
    flushInterval: duration().default(1),
    /** Retry backoff: first delay, growing ×2 per attempt up to the maximum, with jitter. */
    retryMin: duration().default(1),
    retryMax: duration().default(300),
    /** Reconcile every host this often (and at start-up); 0 turns the periodic pass off. */
    reconcileInterval: duration().default(300),
    /** A present element whose remaining time differs from the store's by more than this is re-timed. */
    driftTolerance: duration().default(30),
    /** Give up on a command after this long (the host counts as down). */
    commandTimeout: duration().default(30),
    /** SSH connect timeout. */
    connectTimeout: duration().default(10),
  })
  .prefault({});

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The jail reference in the project's published documentation (docs/jails.md, one section per jail). */
export const DOCS_RUNBOOK_URL = 'https://github.com/lokiban/lokiban/blob/main/docs/jails.md';

/**
 * How `lokiban rules render` writes the Loki ruler and Grafana provisioning files. Secrets are never
 * rendered: the Grafana contact point names environment variables that Grafana expands at load time.
 */
export const rulesSchema = z
  .strictObject({
    /** Loki ruler / Grafana rule-group evaluation interval; one minute matches the ruler default. */
    evaluationInterval: duration().default(60),
    /** Ruler rules directory per tenant; `fake` is the tenant of a single-tenant Loki. */
    lokiTenant: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,150}$/, 'tenant ids are letters, digits, _ . -')
      .default('fake'),
    /** Prefix of each rule's runbook_url; the jail name is appended as the anchor. */
    runbookBaseUrl: z
      .url({ protocol: /^https?$/ })
      .refine((value) => !value.includes('#'), 'the jail name is appended as #<jail>: leave out the #')
      .default(DOCS_RUNBOOK_URL),
    grafana: z
      .strictObject({
        orgId: z.number().int().min(1).default(1),
        folder: z.string().min(1).max(120).default('lokiban'),
        datasourceUid: z
          .string()
          .regex(/^[A-Za-z0-9_-]{1,40}$/, 'a Grafana datasource UID')
          .default('loki'),
        contactPoint: z.string().min(1).max(120).default('lokiban'),
        /** Receiver of the root notification policy; lokiban alerts get a child route of their own. */
        rootReceiver: z.string().min(1).max(120).default('grafana-default-email'),
        responderUrl: z.url({ protocol: /^https?$/ }).default('http://127.0.0.1:9797/api/v1/webhook'),
        auth: z.enum(['bearer', 'hmac']).default('bearer'),
        /** Environment variable (in Grafana's environment) holding the bearer token. */
        tokenEnv: z.string().regex(ENV_NAME).default('LOKIBAN_WEBHOOK_TOKEN'),
        /** Environment variable (in Grafana's environment) holding the HMAC secret. */
        hmacSecretEnv: z.string().regex(ENV_NAME).default('LOKIBAN_GRAFANA_HMAC_SECRET'),
        groupWait: duration().default(5),
        groupInterval: duration().default(60),
        repeatInterval: duration().default(3600),
      })
      .prefault({}),
  })
  .prefault({});

/**
 * Where the audit trail (ban, extend, unban) is pushed. Off unless `audit.loki` is set; every tuning
 * field has a safe default. Durations are seconds like everywhere else.
 */
export const auditLokiSchema = z
  .strictObject({
    /** Loki's base URL; `/loki/api/v1/push` is appended. */
    url: z.url({ protocol: /^https?$/ }).refine((value) => {
      const url = new URL(value);
      return url.username === '' && url.password === '';
    }, 'put credentials in basic or bearer, not in the URL (it is logged)'),
    /** `X-Scope-OrgID` for a multi-tenant Loki (Loki's own limit: 150 characters, no `|`). */
    tenant: z
      .string()
      .regex(/^[A-Za-z0-9!_.*'()-]{1,150}$/, "tenant ids are letters, digits and ! _ . * ' ( ) -")
      .refine((value) => value !== '.' && value !== '..', { message: 'a tenant id cannot be . or ..' })
      .optional(),
    bearer: secret.optional(),
    basic: z.strictObject({ username: z.string().min(1), password: secret }).optional(),
    /** Extra static stream labels (e.g. `cluster`). Never per-event values: those stay in the line. */
    labels: z
      .record(
        z.string().regex(LABEL_NAME, 'label names match ^[a-zA-Z_][a-zA-Z0-9_]*$'),
        z.string().min(1).max(256),
      )
      .refine((labels) => !('job' in labels) && !('stream' in labels), {
        message: 'job and stream are fixed ({job="lokiban", stream="audit"}, the recidive jail reads them)',
      })
      .default({}),
    /** Audit event kinds to push. */
    events: z
      .array(z.enum(['ban', 'extend', 'unban', 'ignored', 'resolved']))
      .min(1)
      .default(['ban', 'extend', 'unban']),
    /** Most events in one push request. */
    batchSize: z.number().int().min(1).max(10_000).default(500),
    /** How often new events are looked for. */
    flushInterval: duration()
      .refine((s) => s >= 1, 'at least 1s')
      .default(1),
    /** At start-up, events this recent are (re-)pushed; Loki drops the identical ones it already has. */
    lookback: duration().default(3600),
    /** Retry backoff on 5xx, 429 and network errors: first delay, ×2 per attempt up to the maximum. */
    retryMin: duration()
      .refine((s) => s >= 1, 'at least 1s')
      .default(1),
    retryMax: duration()
      .refine((s) => s >= 1, 'at least 1s')
      .default(60),
    /** One push request gives up (and is retried) after this long. */
    timeout: duration()
      .refine((s) => s >= 1, 'at least 1s')
      .default(10),
  })
  .refine((loki) => !(loki.bearer && loki.basic), { message: 'configure bearer or basic, not both' })
  .refine((loki) => loki.retryMin <= loki.retryMax, { message: 'retryMin must not exceed retryMax' });

/**
 * The streaming detection path (docs/streaming.md): with `detect.loki` set, every enabled jail is also
 * evaluated from Loki's live tail. Only `url` is required; the tuning fields have safe defaults.
 */
export const detectLokiSchema = z
  .strictObject({
    /** Loki's base URL (http or https); `/loki/api/v1/tail` and `/loki/api/v1/query_range` are appended. */
    url: z.url({ protocol: /^https?$/ }).refine((value) => {
      const url = new URL(value);
      return url.username === '' && url.password === '';
    }, 'put credentials in auth, not in the URL (it is logged)'),
    /** `X-Scope-OrgID` for a multi-tenant Loki. */
    tenant: z
      .string()
      .regex(/^[A-Za-z0-9!_.*'()-]{1,150}$/, "tenant ids are letters, digits and ! _ . * ' ( ) -")
      .refine((value) => value !== '.' && value !== '..', { message: 'a tenant id cannot be . or ..' })
      .optional(),
    auth: z
      .union([
        z.strictObject({ bearer: z.string().min(1) }),
        z.strictObject({
          basic: z.strictObject({ username: z.string().min(1), password: z.string().min(1) }),
        }),
      ])
      .optional(),
    /** PEM file of the CA that signed Loki's certificate (https only); the system CAs otherwise. */
    tls: z.strictObject({ ca: z.string().min(1) }).optional(),
    /** Most (jail, address, host) windows held at once; the least recently seen is evicted beyond it. */
    maxTracked: z.number().int().min(100).max(10_000_000).default(100_000),
    /** Reconnect backoff: first delay, doubled per failure up to the maximum, with jitter. */
    retryMin: duration()
      .refine((s) => s >= 1, 'at least 1s')
      .default(1),
    retryMax: duration()
      .refine((s) => s >= 1, 'at least 1s')
      .default(30),
  })
  .refine((loki) => loki.retryMin <= loki.retryMax, { message: 'retryMin must not exceed retryMax' })
  .refine((loki) => !loki.tls || loki.url.startsWith('https:'), {
    message: 'tls.ca needs an https:// url',
    path: ['tls'],
  });

export const configSchema = z
  .strictObject({
    server: z
      .strictObject({
        listen: listen.default('127.0.0.1:9797'),
        bodyLimit: z
          .number()
          .int()
          .min(1024)
          .max(64 * 1024 * 1024)
          // A 10,000-alert group is 4.9 MiB from Alertmanager, 7.3 MiB from Grafana (docs/api.md).
          .default(16 * 1024 * 1024),
        trustProxy: z.boolean().default(false),
        /** Addresses of the responder itself; never banned (local interfaces are added automatically). */
        ownAddresses: z.array(network).default([]),
      })
      .prefault({}),
    store: z
      .union([
        z.strictObject({ sqlite: z.string().min(1) }),
        z.strictObject({ postgres: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL') }),
      ])
      .default({ sqlite: './data/lokiban.db' }),
    auth: z.strictObject({
      webhook: webhookAuth,
      api: z.strictObject({ tokens: z.array(apiToken).default([]) }).prefault({}),
    }),
    labels: z
      .strictObject({
        ip: z.string().regex(LABEL_NAME).default('ip'),
        jail: z.string().regex(LABEL_NAME).default('jail'),
        host: z.string().regex(LABEL_NAME).default('host'),
      })
      .prefault({}),
    logging: z
      .strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info') })
      .prefault({}),
    defaults: defaultsSchema,
    jails: z.record(z.string().regex(JAIL_NAME, 'jail names match ^[a-z0-9][a-z0-9_.-]*$'), jail),
    /** Brakes against a rule that matches everything: see docs/decisions.md#circuit-breaker. */
    safety: z
      .strictObject({
        /** Most new bans per rolling minute, all jails together; 0 turns the global limit off. */
        maxNewBansPerMinute: z.number().int().min(0).max(1_000_000).default(1_000),
      })
      .prefault({}),
    transport: z.enum(['dry-run', 'ssh', 'local']).default('dry-run'),
    rules: rulesSchema,
    hosts: z.array(hostSchema).default([]),
    enforcement: enforcementSchema,
    audit: z.strictObject({ loki: auditLokiSchema.optional() }).optional(),
    detect: z.strictObject({ loki: detectLokiSchema.optional() }).optional(),
  })
  .superRefine((config, ctx) => {
    const names = new Set<string>();
    config.hosts.forEach((host, index) => {
      if (names.has(host.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['hosts', index, 'name'],
          message: `duplicate host "${host.name}"`,
        });
      }
      names.add(host.name);
      if (host.backend === 'template' && !host.template) {
        ctx.addIssue({
          code: 'custom',
          path: ['hosts', index, 'template'],
          message: 'backend "template" needs template.add and template.remove commands',
        });
      }
      if (host.privilege === 'helper' && host.backend !== 'nftables') {
        ctx.addIssue({
          code: 'custom',
          path: ['hosts', index, 'privilege'],
          message: `privilege "helper" exists for backend "nftables" only (host "${host.name}" uses "${host.backend}")`,
        });
      }
      if (config.transport === 'ssh' && !host.hostKey) {
        ctx.addIssue({
          code: 'custom',
          path: ['hosts', index, 'hostKey'],
          message: `host "${host.name}" has no pinned hostKey; get it with: ssh-keyscan -p ${host.port} ${host.address} | ssh-keygen -lf -`,
        });
      }
    });
    const checkScope = (value: unknown, path: (string | number)[]) => {
      if (!Array.isArray(value)) return;
      value.forEach((name, index) => {
        if (!names.has(name)) {
          ctx.addIssue({ code: 'custom', path: [...path, index], message: `unknown host "${name}"` });
        }
      });
    };
    checkScope(config.defaults.scope, ['defaults', 'scope']);
    for (const [name, settings] of Object.entries(config.jails))
      checkScope(settings.scope, ['jails', name, 'scope']);
    const checkLongest = (
      bantime: number,
      increment: Parameters<typeof longestBan>[1],
      path: (string | number)[],
    ) => {
      // A bantime over the maximum is already reported on its own path.
      if (bantime > MAX_BAN_SECONDS) return;
      const longest = longestBan(bantime, increment);
      if (longest === undefined || longest <= MAX_BAN_SECONDS) return;
      ctx.addIssue({
        code: 'custom',
        path,
        message: `escalation can reach ${Math.round(longest)}s, longer than the maximum ban of ${MAX_BAN_SECONDS}s: set a smaller increment.maxtime (or multipliers, factor, rndtime)`,
      });
    };
    checkLongest(config.defaults.bantime, config.defaults.increment, ['defaults', 'increment']);
    for (const [name, settings] of Object.entries(config.jails))
      if (settings.bantime !== undefined || settings.increment !== undefined)
        checkLongest(
          settings.bantime ?? config.defaults.bantime,
          { ...config.defaults.increment, ...settings.increment },
          ['jails', name, 'increment'],
        );
  });

export type RawConfig = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
export type HostConfig = z.output<typeof hostSchema>;
export type EnforcementSettings = z.output<typeof enforcementSchema>;
export type DetectLokiSettings = z.output<typeof detectLokiSchema>;
