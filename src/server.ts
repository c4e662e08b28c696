import { resolve } from 'node:path';
import closeWithGrace from 'close-with-grace';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { Counter, Gauge, Registry } from 'prom-client';
import { auditShipperFromConfig, type LokiShipper } from './audit/loki-shipper.js';
import type { Config } from './config/load.js';
import { buildDecisionPolicy } from './config/policy.js';
import type { EnforcementStatus } from './enforce/port.js';
import { buildApp } from './http/app.js';
import { loadCatalogue } from './logql/catalogue.js';
import { jailPipelines } from './logql/render.js';
import { DEFAULT_CATALOGUE } from './logql/toolkit.js';
import { createStore } from './store/index.js';
import type { Store } from './store/port.js';
import { StreamDetector } from './stream/detector.js';
import { recordThroughStore } from './stream/record.js';

/** What a dispatcher running in this process offers the server (src/enforce's Enforcement fits). */
export interface EnforcementRuntime {
  status: EnforcementStatus;
  /** Called after a ban or unban is durable, with the hosts whose firewall must change. */
  notify(hosts?: readonly string[]): void;
  start(): void;
  stop(): Promise<void>;
  /** Local addresses of the live connections to hosts; the decision policy never bans them. */
  localAddresses?(): readonly string[];
}

export interface ServerOptions {
  /** A store to use instead of the one `config.store` names (it must not be initialised yet). */
  store?: Store;
  /**
   * Creates the enforcement runtime once the store is open and the logger exists. It is started
   * once the server listens and stopped after the last request is answered, before the store closes.
   */
  enforcement?: (context: { store: Store; logger: FastifyBaseLogger }) => EnforcementRuntime;
  /** Overrides `server.listen`, e.g. `0.0.0.0:9797` inside a container. */
  listen?: string;
  /** Install SIGINT/SIGTERM handlers that close the server gracefully (the CLI does; tests do not). */
  handleSignals?: boolean;
  /** Jail catalogue the tail path compiles (`detect.loki`); default: the installed alert-rules/jails. */
  catalogue?: string;
}

export interface RunningServer {
  app: FastifyInstance;
  store: Store;
  /** Where the server listens, e.g. `http://127.0.0.1:9797`. */
  url: string;
  close(): Promise<void>;
}

const SCOPE_WARNING_INTERVAL_MS = 60_000;

/** `host:port` or `[v6]:port` → listen options. The schema has already checked the shape. */
export function parseListen(listen: string): { host: string; port: number } {
  const colon = listen.lastIndexOf(':');
  const host = listen.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(listen.slice(colon + 1)) };
}

/** config → store → app → listen, and an orderly close: stop accepting, drain requests, close the store. */
export async function startServer(config: Config, options: ServerOptions = {}): Promise<RunningServer> {
  const store = options.store ?? createStore(config.store);
  await store.init();
  // The app is built before the runtime exists (the runtime wants the app's logger); these two
  // late-bound adapters let the routes reach it once it does.
  let runtime: EnforcementRuntime | undefined;
  let audit: LokiShipper | undefined;
  let detector: StreamDetector | undefined;
  const registry = new Registry();
  let app: FastifyInstance;
  // The policy exists before the app's logger does; a fallback before that has nowhere to go, and
  // none can happen because no request is served yet.
  let log: FastifyBaseLogger | undefined;
  // A scope-origin jail that cannot name the host bans on every host: the operator must see that, but
  // once per jail, host and reason a minute is enough (a 1,000-alert group would otherwise log 1,000
  // lines, and the webhook asks for the targets a second time to notify the dispatcher).
  const lastWarned = new Map<string, number>();
  // One warning per breaker scope and interval: a storm refuses thousands of alerts a minute.
  const breakerWarned = new Map<string, number>();
  const breakerRefused = new Counter({
    name: 'lokiban_breaker_refused_total',
    help: 'Alerts whose new ban the circuit breaker refused (outcome ignored-breaker), by scope (global or a jail).',
    labelNames: ['scope'] as const,
    registers: [registry],
  });
  const policy = buildDecisionPolicy(config, {
    onBreakerRefuse: (trip) => {
      breakerRefused.inc({ scope: trip.scope });
      const now = Date.now();
      if ((breakerWarned.get(trip.scope) ?? -Infinity) > now - SCOPE_WARNING_INTERVAL_MS) return;
      breakerWarned.set(trip.scope, now);
      log?.warn(
        { scope: trip.scope, limit: trip.limit, jail: trip.jail },
        'circuit breaker open: new bans refused (ignored-breaker); raise safety.maxNewBansPerMinute or the jail’s maxNewBansPerMinute if this is a real attack',
      );
    },
    onScopeFallback: (event) => {
      const key = `${event.jail}\n${event.originHost ?? ''}\n${event.reason}`;
      const now = Date.now();
      if ((lastWarned.get(key) ?? -Infinity) > now - SCOPE_WARNING_INTERVAL_MS) return;
      // Host labels come from alerts: bound the map rather than let them grow it.
      if (lastWarned.size >= 1000) lastWarned.clear();
      lastWarned.set(key, now);
      log?.warn(event, 'scope origin fell back to every host');
    },
  });
  // The jails' log pipelines for Explore links; without a readable catalogue the API leaves them out
  // (bans still work, the panel falls back to a line filter).
  let pipelines: Record<string, string[]> | undefined;
  let pipelineProblem: string | undefined;
  try {
    pipelines = jailPipelines(loadCatalogue(DEFAULT_CATALOGUE), config);
  } catch (error) {
    pipelineProblem = (error as Error).message;
  }
  try {
    app = await buildApp({
      config,
      store,
      policy,
      registry,
      ...(pipelines ? { jailPipelines: pipelines } : {}),
      ...(config.detect?.loki ? { detection: { status: () => detector?.status() } } : {}),
      ...(options.enforcement
        ? {
            enforcement: {
              hosts: () => runtime?.status.hosts() ?? [],
              confirmReconcile: (host: string) => {
                const confirm = runtime?.status.confirmReconcile;
                return confirm ? confirm(host) : Promise.reject(new Error('enforcement is not running'));
              },
            },
            onChange: (hosts: string[]) => runtime?.notify(hosts),
          }
        : {}),
    });
    log = app.log;
    if (pipelineProblem) app.log.warn({ problem: pipelineProblem }, 'jail log queries unavailable');
    runtime = options.enforcement?.({ store, logger: app.log });
    policy.protectedNetworks.track(() => runtime?.localAddresses?.() ?? []);
    new Gauge({
      name: 'lokiban_breaker_open',
      help: 'Whether the circuit breaker refused a new ban in the last minute (1), by scope.',
      labelNames: ['scope'] as const,
      registers: [registry],
      collect() {
        this.reset();
        this.set({ scope: 'global' }, 0);
        for (const open of policy.breaker.status(Date.now()).open) this.set({ scope: open.scope }, 1);
      },
    });
    audit = auditShipperFromConfig(config, { store, logger: app.log, registry });
    const loki = config.detect?.loki;
    if (loki) {
      detector = new StreamDetector({
        config: { jails: config.jails, labels: config.labels, detect: { loki } },
        catalogue: loadCatalogue(options.catalogue ?? DEFAULT_CATALOGUE),
        // The one line that changes when the decisions layer takes over recording.
        record: recordThroughStore(store, policy, (hosts) => runtime?.notify(hosts)),
        logger: app.log.child({ component: 'loki-tail' }),
        registry,
      });
    }
  } catch (error) {
    await store.close();
    throw error;
  }
  // Fastify closes in reverse registration order; this runs after in-flight requests are answered.
  app.addHook('onClose', async () => {
    try {
      // Tail offences still being recorded finish before the dispatcher and the store go.
      await detector?.stop();
      await runtime?.stop();
    } finally {
      await audit?.stop();
      await store.close();
    }
  });
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= app.close().then(() => undefined);
    return closing;
  };
  if (options.handleSignals) {
    // A second signal, or 10 s without finishing, forces the exit; one SIGTERM drains and closes.
    const handler = closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
      if (err) app.log.error({ err }, 'shutting down after an error');
      else app.log.info({ signal }, 'shutting down');
      await close();
    });
    app.addHook('onClose', async () => handler.uninstall());
  }

  const { host, port } = parseListen(options.listen ?? config.server.listen);
  try {
    await app.listen({ host, port });
  } catch (error) {
    await close();
    throw error;
  }
  const address = app.server.address();
  const bound = typeof address === 'object' && address ? address : { address: host, port, family: 'IPv4' };
  const url = `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
  runtime?.start();
  audit?.start();
  detector?.start();
  app.log.info(
    {
      url,
      store: 'sqlite' in config.store ? 'sqlite' : 'postgres',
      // A relative path is relative to the working directory: name the file actually opened.
      ...('sqlite' in config.store && config.store.sqlite !== ':memory:'
        ? { database: resolve(config.store.sqlite) }
        : {}),
      transport: config.transport,
    },
    'lokiban listening',
  );
  return { app, store, url, close };
}
