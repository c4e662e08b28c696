import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { AlertOutcome, OutcomeKind } from '../domain/types.js';
import { adoptBurstIdentities } from '../stream/identity.js';
import { toBatchItems } from './alerts.js';
import { errorSchema, webhookResponseSchema } from './api-schemas.js';
import type { AppContext } from './app.js';
import { checkWebhookAuth, SIGNATURE_HEADER, webhookChallenge } from './auth.js';
import { errorBody, formatPath, HttpError } from './errors.js';
import { timed } from './metrics.js';
import { senderOf, webhookPayloadSchema } from './webhook-schema.js';

const MAX_REPORTED_PROBLEMS = 5;

/**
 * `POST /api/v1/webhook`. It lives in its own plugin context so its JSON parser can keep the raw
 * bytes: Grafana's HMAC signs the body exactly as sent, and re-serialising parsed JSON would not
 * reproduce it. Only a request that carries a Grafana signature needs its body to be authenticated:
 * every other request is checked on its headers before a byte of the body is read, so unauthenticated
 * senders cannot make the responder buffer bodies up to bodyLimit.
 */
export const webhookRoutes: FastifyPluginAsync<{ context: AppContext }> = async (fastify, { context }) => {
  const { config, store, policy, metrics } = context;

  const refuse = (request: FastifyRequest, reply: FastifyReply, reason: string) => {
    metrics.webhookRequests.inc({ outcome: 'unauthorized' });
    request.log.warn({ reason, client: request.ip }, 'webhook authentication failed');
    return (
      reply
        .status(401)
        .header('www-authenticate', webhookChallenge(config.auth.webhook))
        // The unread body is not worth draining: the client has to send it again with credentials.
        .header('connection', 'close')
        .send(errorBody(401, 'authentication required'))
    );
  };

  fastify.addHook('onRequest', async (request, reply) => {
    if (config.auth.webhook.grafanaHmac && request.headers[SIGNATURE_HEADER] !== undefined) return;
    const auth = checkWebhookAuth(config.auth.webhook, request.headers, Buffer.alloc(0), context.now());
    if (!auth.ok) return refuse(request, reply, auth.reason);
  });

  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser(
    ['application/json', 'text/plain'],
    { parseAs: 'buffer' },
    (_req, body, done) => done(null, body),
  );

  fastify.post(
    '/api/v1/webhook',
    {
      schema: {
        description:
          'Alertmanager (version "4") or Grafana (version "1") webhook; answers per-alert outcomes.',
        security: [{ bearer: [] }, { basic: [] }],
        response: {
          200: webhookResponseSchema,
          400: errorSchema,
          401: errorSchema,
          413: errorSchema,
          500: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const auth = checkWebhookAuth(config.auth.webhook, request.headers, raw, context.now());
      if (!auth.ok) return refuse(request, reply, auth.reason);

      let json: unknown;
      try {
        json = JSON.parse(raw.toString('utf8'));
      } catch (error) {
        throw new HttpError(400, `body is not valid JSON: ${(error as Error).message}`);
      }
      const parsed = webhookPayloadSchema.safeParse(json);
      if (!parsed.success) {
        const problems = parsed.error.issues
          .slice(0, MAX_REPORTED_PROBLEMS)
          .map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
        const more = parsed.error.issues.length - problems.length;
        throw new HttpError(400, problems.join('; ') + (more > 0 ? `; and ${more} more` : ''));
      }

      const payload = parsed.data;
      const source = senderOf(payload);
      const receivedAt = context.now();
      const converted = toBatchItems(payload, config, { source, receivedAt });
      // With the tail on, an alert for a burst the tail already recorded takes that burst's identity,
      // so the store answers `duplicate` (docs/streaming.md "Offence identity").
      const items = config.detect?.loki
        ? await timed(metrics, 'findBursts', () => adoptBurstIdentities(converted, store, config.jails))
        : converted;
      // The answer waits for the store: a 2xx promises the decision is durable, and an exception here
      // becomes a 500 so Alertmanager and Grafana deliver the group again.
      const outcomes: AlertOutcome[] =
        items.length === 0
          ? []
          : await timed(metrics, 'recordBatch', () => store.recordBatch(items, policy, source));

      const counts: Partial<Record<OutcomeKind, number>> = {};
      const changed = new Set<string>();
      const unknownJails: string[] = [];
      for (const outcome of outcomes) {
        counts[outcome.outcome] = (counts[outcome.outcome] ?? 0) + 1;
        metrics.alerts.inc({ outcome: outcome.outcome, jail: outcome.jail ?? '' });
        if (outcome.outcome === 'ignored-unknown-jail') {
          metrics.unknownJailAlerts.inc();
          if (outcome.reason && unknownJails.length < MAX_REPORTED_PROBLEMS)
            unknownJails.push(outcome.reason);
        }
        if (outcome.outcome === 'banned' || outcome.outcome === 'extended') {
          const item = items[outcome.index];
          if (item?.kind === 'offence') {
            const jail = config.jails[item.offence.jail];
            if (jail) for (const host of policy.targetsFor(jail, item.offence.originHost)) changed.add(host);
          }
        }
      }
      if (payload.truncatedAlerts) {
        // Alertmanager's max_alerts dropped alerts from this group: they never reach lokiban.
        request.log.warn(
          { truncatedAlerts: payload.truncatedAlerts },
          'the sender truncated this group; remove max_alerts from the webhook receiver',
        );
      }
      if (unknownJails.length > 0) {
        // Nobody is banned for these alerts: the rules and lokiban.yaml disagree on the jail names.
        request.log.warn(
          { source, unknownJail: counts['ignored-unknown-jail'], reasons: unknownJails },
          'alerts for an unknown jail ignored; add the jail to lokiban.yaml or fix the rule',
        );
      }
      context.notify(changed);
      metrics.webhookRequests.inc({ outcome: 'accepted' });
      // Counts and the sender only: the payload itself is attacker-influenced and can be large.
      // Alertmanager repeats every firing group (repeat_interval): a delivery of nothing but duplicates
      // changed nothing and is logged at debug, so the info log shows what the responder did.
      const level =
        outcomes.every((outcome) => outcome.outcome === 'duplicate') && outcomes.length > 0
          ? 'debug'
          : 'info';
      request.log[level](
        { source, auth: auth.method, received: payload.alerts.length, outcomes: counts },
        'webhook processed',
      );
      return reply.status(200).send({ received: payload.alerts.length, results: outcomes });
    },
  );
};
