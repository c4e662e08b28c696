import { resolve } from 'node:path';
import closeWithGrace from 'close-with-grace';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import pino from 'pino';
import { Registry } from 'prom-client';
import { auditShipperFromConfig, type LokiShipper } from './audit/loki-shipper.js';
import type { Config } from './config/load.js';
import { buildDecisionPolicy } from './config/policy.js';
import { breakerOpenGauge, breakerRefusals } from './decisions/breaker-warnings.js';
import { scopeFallbackWarnings } from './decisions/scope-warnings.js';
import type { EnforcementStatus } from './enforce/port.js';
import { buildApp } from './http/app.js';
import { loggerOptions } from './http/logger.js';
import { loadCatalogue } from './logql/catalogue.js';
import { jailPipelines } from './logql/render.js';
import { DEFAULT_CATALOGUE } from './logql/toolkit.js';
import { createStore } from './store/index.js';
import type { Store } from './store/port.js';
import { StreamDetector } from './stream/detector.js';

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

/** `host:port` or `[v6]:port` → listen options. The schema has already checked the shape. */
export function parseListen(listen: string): { host: string; port: number } {
  const colon = listen.lastIndexOf(':');
  const host = listen.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(listen.slice(colon + 1)) };
}

/** config → store → app → listen, and an orderly close: stop accepting, drain requests, close the store. */
export async function startServer(config: Config, options: ServerOptions = {}): Promise<RunningServer> {
  const store = options.store ?? (await createStore(config.store));
  await store.init();
  // One logger for the app and everything beside it, so each part is built once, in order.
  const logger = pino(loggerOptions(config));
  const registry = new Registry();
  const policy = buildDecisionPolicy(config, {
    onScopeFallback: scopeFallbackWarnings(logger),
    onBreakerRefuse: breakerRefusals(logger, registry),
  });
  breakerOpenGauge(registry, (now) => policy.breaker.status(now));
  // The jails' log pipelines for Explore links; without a readable catalogue the API leaves them out
  // (bans still work, the panel falls back to a line filter).
  let pipelines: Record<string, string[]> | undefined;
  try {
    pipelines = jailPipelines(loadCatalogue(DEFAULT_CATALOGUE), config);
  } catch (error) {
    logger.warn({ problem: (error as Error).message }, 'jail log queries unavailable');
  }
  let app: FastifyInstance;
  let runtime: EnforcementRuntime | undefined;
  let audit: LokiShipper | undefined;
  let detector: StreamDetector | undefined;
  try {
    runtime = options.enforcement?.({ store, logger });
    policy.protectedNetworks.track(() => runtime?.localAddresses?.() ?? []);
    audit = auditShipperFromConfig(config, { store, logger, registry });
    app = await buildApp(
      {
        config,
        store,
        policy,
        registry,
        ...(pipelines ? { jailPipelines: pipelines } : {}),
        ...(config.detect?.loki ? { detection: { status: () => detector?.status() } } : {}),
        ...(runtime
          ? { enforcement: runtime.status, onChange: (hosts: string[]) => runtime?.notify(hosts) }
          : {}),
      },
      { loggerInstance: logger },
    );
    const loki = config.detect?.loki;
    if (loki) {
      // The tail decides through the same application layer as the webhook: same guard, same
      // escalation, and the hosts to wake come from the store's answer.
      const { decisions } = app.lokiban;
      detector = new StreamDetector({
        config: { jails: config.jails, labels: config.labels, detect: { loki } },
        catalogue: loadCatalogue(options.catalogue ?? DEFAULT_CATALOGUE),
        record: (items) => decisions.recordDelivery(items, 'loki-tail'),
        logger: logger.child({ component: 'loki-tail' }),
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
