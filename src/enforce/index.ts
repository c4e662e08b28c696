import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Config } from '../config/load.js';
import type { Store } from '../store/port.js';
import { Dispatcher, type OutboxStore, type ReconcileReport } from './dispatcher.js';

export { NothingHeldError, RECONCILE_BRAKE_FLOOR, RECONCILE_BRAKE_SHARE } from './dispatcher.js';

import { FirewallEnforcer } from './enforcer.js';
import type { EnforcementStatus } from './port.js';
import { dryRunTransport } from './transports/dry-run.js';
import { localTransport } from './transports/local.js';
import { sshTransport } from './transports/ssh.js';
import type { Transport } from './transports/transport.js';

export type { EnforcementStatus, HostStatus } from './port.js';

type LogMethods = Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>;

/** pino's logger or fastify's `app.log`: anything that logs and makes child loggers. */
export interface EnforcementLogger extends LogMethods {
  child(bindings: Record<string, unknown>): LogMethods;
}

export interface Enforcement {
  start(): void;
  stop(): Promise<void>;
  status: EnforcementStatus;
  /** Called after a ban/unban is durable: flush these hosts now. */
  notify(hosts?: readonly string[]): void;
  reconcile(): Promise<ReconcileReport[]>;
  /** Local addresses of the live connections to hosts: protected from bans while they live. */
  localAddresses(): string[];
  enforcer: FirewallEnforcer;
}

export function createTransport(
  config: Pick<Config, 'transport' | 'enforcement'>,
  logger?: LogMethods,
): Transport {
  switch (config.transport) {
    case 'ssh':
      return sshTransport({
        connectTimeoutMs: config.enforcement.connectTimeout * 1000,
        reconnectMinMs: config.enforcement.retryMin * 1000,
        reconnectMaxMs: Math.min(config.enforcement.retryMax, 60) * 1000,
      });
    case 'local':
      return localTransport();
    case 'dry-run':
      return dryRunTransport(logger);
  }
}

export function createEnforcer(
  config: Pick<Config, 'transport' | 'enforcement'>,
  logger?: LogMethods,
): FirewallEnforcer {
  return new FirewallEnforcer(createTransport(config, logger), config.enforcement.commandTimeout * 1000);
}

/** Wires transport, backends, dispatcher and reconciler for the configured hosts. */
export function createEnforcement(
  config: Pick<Config, 'transport' | 'enforcement' | 'hosts'>,
  store: OutboxStore | Store,
  logger: EnforcementLogger,
  options: { owner?: string } = {},
): Enforcement {
  const log = logger.child({ component: 'enforcement' });
  const enforcer = createEnforcer(config, log);
  const dispatcher = new Dispatcher({
    store,
    enforcer,
    hosts: config.hosts,
    settings: config.enforcement,
    logger: log,
    owner: options.owner ?? `lokiban@${hostname()}`,
  });
  return {
    start: () => dispatcher.start(),
    stop: async () => {
      await dispatcher.stop();
      await enforcer.close();
    },
    status: {
      hosts: () => dispatcher.status(),
      confirmReconcile: (host) => dispatcher.confirmReconcile(host),
    },
    notify: (hosts) => dispatcher.notify(hosts),
    reconcile: () => dispatcher.reconcileAll(),
    localAddresses: () => enforcer.transport.localAddresses?.() ?? [],
    enforcer,
  };
}
