import fp from 'fastify-plugin';
import type { Config } from '../config/load.js';
import type { Decisions } from '../decisions/decisions.js';
import type { BreakerStatus } from '../domain/breaker.js';
import type { EnforcementStatus } from '../enforce/port.js';
import type { ReadModel } from '../store/port.js';
import type { Metrics } from './metrics.js';

/** What the routes reach through `fastify.lokiban`: the services, built once per app by app.ts. */
export interface AppContext {
  config: Config;
  decisions: Decisions;
  /** Reads for the API and /readyz; every write goes through `decisions`. */
  store: ReadModel;
  metrics: Metrics;
  /** Live per-host enforcement state, when a dispatcher runs in this process. */
  enforcement?: EnforcementStatus;
  /** Each jail's LogQL log pipelines, one per rule, for GET /jails (absent: no readable catalogue). */
  jailPipelines?: Readonly<Record<string, readonly string[]>>;
  /** What the circuit breaker admitted and refused in the last minute, when the policy has one. */
  breakerStatus?: (now: number) => BreakerStatus;
  now: () => number;
}

declare module 'fastify' {
  interface FastifyInstance {
    lokiban: AppContext;
  }
  interface FastifyRequest {
    /** The API token's name, set by the route's auth hook; the audit actor of admin calls. */
    principal: string | undefined;
  }
}

export const CONTEXT_PLUGIN = 'lokiban-context';

/**
 * Decorates the instance with the app's services and every request with `principal`. Wrapped in
 * fastify-plugin so the decoration is visible to the route plugins registered next to it, which
 * name it in their `dependencies`.
 */
export const contextPlugin = fp<AppContext>(
  async (fastify, context) => {
    fastify.decorate('lokiban', context);
    fastify.decorateRequest('principal', undefined);
  },
  { name: CONTEXT_PLUGIN, fastify: '5.x' },
);
