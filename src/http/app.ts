import fastifySwagger from '@fastify/swagger';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyServerOptions,
} from 'fastify';
import fp from 'fastify-plugin';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  validatorCompiler,
} from 'fastify-type-provider-zod';
import type { Registry } from 'prom-client';
import type { Config } from '../config/load.js';
import { createDecisions } from '../decisions/decisions.js';
import { BanRefusedError } from '../domain/guard.js';
import type { DecisionPolicy } from '../domain/policy.js';
import type { EnforcementStatus } from '../enforce/port.js';
import { StoreUnavailableError } from '../store/errors.js';
import type { DecisionStore, ReadModel } from '../store/port.js';
import type { DetectionStatus } from '../stream/detector.js';
import { apiRoutes } from './api-routes.js';
import { contextPlugin } from './context.js';
import { errorBody, HttpError } from './errors.js';
import { loggerOptions } from './logger.js';
import { createMetrics } from './metrics.js';
import { webhookRoutes } from './webhook-route.js';

/** The part of the Store the HTTP layer is given: the decisions and the reads; the outbox belongs to enforce/. */
export type AppStore = DecisionStore & ReadModel;

export interface AppOptions {
  config: Config;
  store: AppStore;
  /** The decision policy the store applies (config/policy.ts `buildDecisionPolicy(config)`). */
  policy: DecisionPolicy;
  /** Live per-host enforcement state, when a dispatcher runs in this process. */
  enforcement?: EnforcementStatus;
  /** Called with the hosts whose desired firewall state changed, after the change is durable. */
  onChange?: (hosts: string[]) => void;
  /** Clock for API answers (`now`), defaults to Date.now. */
  now?: () => number;
  /** Registry for /metrics, when other parts of the process add series to it; default: a new one. */
  registry?: Registry;
  /** Each jail's LogQL log pipelines, one per rule (logql/render.ts `jailPipelines`), for GET /jails. */
  jailPipelines?: Readonly<Record<string, readonly string[]>>;
  /** The Loki tails of the streaming detection path, when `detect.loki` is set (reported by /readyz). */
  detection?: { status(): DetectionStatus | undefined };
}

/** Routes, auth, metrics and the one error handler. */
const appPlugin: FastifyPluginAsync<AppOptions> = async (fastify, options) => {
  const now = options.now ?? Date.now;
  const metrics = createMetrics({
    store: options.store,
    now,
    ...(options.enforcement ? { enforcement: options.enforcement } : {}),
    ...(options.registry ? { registry: options.registry } : {}),
  });
  const decisions = createDecisions({
    config: options.config,
    store: options.store,
    policy: options.policy,
    metrics,
    ...(options.onChange ? { wake: options.onChange } : {}),
    onWakeError: (error) => fastify.log.error({ err: error }, 'change listener failed'),
  });
  await fastify.register(contextPlugin, {
    config: options.config,
    decisions,
    store: options.store,
    metrics,
    now,
    ...(options.enforcement ? { enforcement: options.enforcement } : {}),
    ...(options.jailPipelines ? { jailPipelines: options.jailPipelines } : {}),
    ...(options.policy.breakerStatus ? { breakerStatus: options.policy.breakerStatus } : {}),
  });

  fastify.setValidatorCompiler(validatorCompiler);
  // Response schemas document the API (OpenAPI); answers are plain JSON.stringify, unvalidated, so
  // a 100,000-ban list does not pay for a schema walk. Tests check the shapes against the schemas.
  fastify.setSerializerCompiler(() => (data) => JSON.stringify(data));

  await fastify.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'lokiban',
        description: 'Webhook in, firewall bans out. See docs/api.md.',
        version: '1',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          basic: { type: 'http', scheme: 'basic' },
        },
      },
    },
    transform: jsonSchemaTransform,
  });

  fastify.setErrorHandler((thrown, request, reply) => {
    const error = thrown as FastifyError;
    if (hasZodFastifySchemaValidationErrors(error)) {
      const where = error.validationContext ?? 'request';
      const problems = error.validation.map((issue) => {
        const path = issue.instancePath.split('/').filter(Boolean).join('.');
        return `${where}${path ? `.${path}` : ''}: ${issue.message}`;
      });
      return reply.status(400).send(errorBody(400, problems.join('; ')));
    }
    if (error instanceof BanRefusedError) {
      return reply.status(422).send(errorBody(422, `refused (${error.outcome}): ${error.reason}`));
    }
    const status =
      error instanceof HttpError ? error.statusCode : (error as { statusCode?: number }).statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      if (request.routeOptions.url === '/api/v1/webhook') {
        metrics.webhookRequests.inc({ outcome: status === 413 ? 'too-large' : 'bad-request' });
        if (status === 413) {
          // Alertmanager and Grafana never retry a 4xx: every alert of this group is lost.
          request.log.error(
            {
              bytes: Number(request.headers['content-length']) || undefined,
              bodyLimit: options.config.server.bodyLimit,
            },
            'webhook body over server.bodyLimit refused: the sender will not retry, its alerts are lost; raise server.bodyLimit',
          );
        }
      }
      return reply.status(status).send(errorBody(status, error.message));
    }
    if (error instanceof StoreUnavailableError) {
      // The database is away and nothing was recorded: 503 tells Alertmanager and Grafana to deliver
      // again, and a load balancer to prefer another replica.
      request.log.warn({ err: error }, 'store unavailable');
      if (request.routeOptions.url === '/api/v1/webhook')
        metrics.webhookRequests.inc({ outcome: 'unavailable' });
      return reply.status(503).send(errorBody(503, 'store unavailable, retry later'));
    }
    request.log.error({ err: error }, 'request failed');
    if (request.routeOptions.url === '/api/v1/webhook') metrics.webhookRequests.inc({ outcome: 'error' });
    return reply.status(500).send(errorBody(500, 'Internal Server Error'));
  });

  fastify.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  fastify.get('/readyz', { schema: { hide: true } }, async (request, reply) => {
    // The tails are reported, not required: a replica whose Loki tail is down still takes the ruler's
    // webhooks, and taking it out of the load balancer would stop the backstop too.
    const detection = options.detection?.status();
    const detect = detection
      ? {
          detect: {
            connected: detection.connected,
            tails: detection.tails.map((tail) => ({
              name: tail.name,
              jails: tail.jails,
              state: tail.state,
              ...(tail.lastError ? { lastError: tail.lastError } : {}),
              ...(tail.lastEntryAt !== undefined
                ? { lastEntryAt: new Date(tail.lastEntryAt).toISOString() }
                : {}),
            })),
          },
        }
      : {};
    try {
      await options.store.ping();
      return { status: 'ready', ...detect };
    } catch (error) {
      request.log.warn({ err: error }, 'store not reachable');
      return reply.status(503).send({ status: 'unavailable', message: 'store not reachable', ...detect });
    }
  });
  fastify.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
  fastify.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => fastify.swagger());

  await fastify.register(webhookRoutes);
  await fastify.register(apiRoutes, { prefix: '/api/v1' });
};

/**
 * The responder as a fastify plugin. Wrapped in fastify-plugin so its decorator (`lokiban`, the
 * services) is visible on the instance that registers it: server.ts hands the decisions to the tail.
 */
export const lokibanApp = fp(appPlugin, { name: 'lokiban-app', fastify: '5.x' });

/** A fastify instance with lokiban's logger, limits and the app registered: what server.ts listens with. */
export async function buildApp(
  options: AppOptions,
  fastifyOptions: FastifyServerOptions = {},
): Promise<FastifyInstance> {
  const fastify = Fastify({
    ...(fastifyOptions.loggerInstance ? {} : { logger: loggerOptions(options.config) }),
    bodyLimit: options.config.server.bodyLimit,
    trustProxy: options.config.server.trustProxy,
    // A webhook group of 1,000 alerts must not be cut short; slow senders are bounded by requestTimeout.
    requestTimeout: 30_000,
    ...fastifyOptions,
  });
  // Not readied here: the caller may still add hooks (server.ts adds its shutdown hook); inject()
  // and listen() ready the instance.
  await fastify.register(lokibanApp, options);
  return fastify;
}
