import { z } from 'zod';

/**
 * Schemas for the two senders lokiban accepts on `POST /api/v1/webhook`:
 * - Alertmanager's webhook receiver (`version: "4"`, prometheus/alertmanager notify/webhook),
 * - Grafana's webhook contact point (`version: "1"`), a superset that adds orgId, state, title,
 *   message and per-alert values/valueString/silenceURL/dashboardURL/panelURL/imageURL.
 * Objects are loose: both senders add fields over time and an unknown field must not turn a ban
 * into a 400. Only what lokiban reads is checked strictly.
 */

// RFC 3339 as both senders write it (Go's time.Time: nanoseconds and offsets allowed).
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

export const timestamp = z
  .string()
  .max(64)
  .refine(
    (value) => RFC3339.test(value) && Number.isFinite(Date.parse(value)),
    'expected an RFC 3339 timestamp',
  );

/** Go's zero time: what Alertmanager and Grafana send as `endsAt` while an alert is firing. */
export const GO_ZERO_TIME = '0001-01-01T00:00:00Z';

// Label values are strings in both senders. Their length is not limited here: a label can carry
// attacker-chosen text from a log line, and one over-long value must not get the whole group (and
// every other ban in it) refused. bodyLimit bounds the total; alerts.ts truncates what it keeps.
const labelSet = z.record(z.string(), z.string());

export const webhookAlertSchema = z.looseObject({
  status: z.enum(['firing', 'resolved']),
  labels: labelSet,
  annotations: labelSet.default({}),
  startsAt: timestamp,
  endsAt: timestamp.optional(),
  generatorURL: z.string().optional(),
  fingerprint: z.string().max(128).optional(),
  // Grafana only.
  silenceURL: z.string().optional(),
  dashboardURL: z.string().optional(),
  panelURL: z.string().optional(),
  imageURL: z.string().optional(),
  // Grafana's query results per refId; null for NoData/DatasourceError. Not read, so not constrained.
  values: z.record(z.string(), z.unknown()).nullable().optional(),
  valueString: z.string().optional(),
});

export const webhookPayloadSchema = z.looseObject({
  version: z.string().max(16),
  receiver: z.string().optional(),
  status: z.enum(['firing', 'resolved']),
  alerts: z.array(webhookAlertSchema),
  groupLabels: labelSet.optional(),
  commonLabels: labelSet.optional(),
  commonAnnotations: labelSet.optional(),
  externalURL: z.string().optional(),
  groupKey: z.string().optional(),
  truncatedAlerts: z.number().int().min(0).optional(),
  // Grafana only.
  orgId: z.number().int().optional(),
  state: z.string().optional(),
  title: z.string().optional(),
  message: z.string().optional(),
});

export type WebhookAlert = z.output<typeof webhookAlertSchema>;
export type WebhookPayload = z.output<typeof webhookPayloadSchema>;

/** Grafana sends `version: "1"` and an `orgId`; Alertmanager sends `version: "4"`. */
export function senderOf(payload: WebhookPayload): 'grafana' | 'alertmanager' {
  return payload.version === '1' || payload.orgId !== undefined ? 'grafana' : 'alertmanager';
}
