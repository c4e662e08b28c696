import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { OutcomeKind } from '../domain/types.js';
import { formatIssues } from '../lib/zod-issues.js';
import { toBatchItems } from './alerts.js';
import { errorSchema, webhookResponseSchema } from './api-schemas.js';
import { checkWebhookAuth, SIGNATURE_HEADER, webhookChallenge } from './auth.js';
import { CONTEXT_PLUGIN } from './context.js';
import { errorBody, HttpError } from './errors.js';
import { senderOf, webhookPayloadSchema } from './webhook-schema.js';

const MAX_REPORTED_PROBLEMS = 5;

/**
 * `POST /api/v1/webhook`. It lives in its own plugin context so its JSON parser can keep the raw
 * bytes: Grafana's HMAC signs the body exactly as sent, and re-serialising parsed JSON would not
 * reproduce it. Only a request that carries a Grafana signature needs its body to be authenticated:
 * every other request is checked on its headers before a byte of the body is read, so unauthenticated
 * senders cannot make the responder buffer bodies up to bodyLimit.
 */
const webhookPlugin: FastifyPluginAsync = async (fastify) => {
  const context = fastify.lokiban;
  const { config, decisions, metrics } = context;

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
        throw new HttpError(400, formatIssues(parsed.error.issues, MAX_REPORTED_PROBLEMS).join('; '));
      }

      const payload = parsed.data;
      const source = senderOf(payload);
      const receivedAt = context.now();
      const items = toBatchItems(payload, config, { source, receivedAt });
      // The answer waits for the store: a 2xx promises the decision is durable, and an exception here
      // becomes a 500 so Alertmanager and Grafana deliver the group again.
      const outcomes = await decisions.recordDelivery(items, source);
      const counts: Partial<Record<OutcomeKind, number>> = {};
      const unknownJails: string[] = [];
      for (const outcome of outcomes) {
        counts[outcome.outcome] = (counts[outcome.outcome] ?? 0) + 1;
        if (outcome.outcome === 'ignored-unknown-jail') {
          metrics.unknownJailAlerts.inc();
          if (outcome.reason && unknownJails.length < MAX_REPORTED_PROBLEMS)
            unknownJails.push(outcome.reason);
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

export const webhookRoutes = fp(webhookPlugin, {
  name: 'lokiban-webhook',
  dependencies: [CONTEXT_PLUGIN],
  // Its own context: the raw-body parser and the header check must not reach the other routes.
  encapsulate: true,
});
