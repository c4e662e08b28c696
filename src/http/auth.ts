import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Config } from '../config/load.js';

export type WebhookAuthConfig = Config['auth']['webhook'];
export type ApiToken = Config['auth']['api']['tokens'][number];
export type Role = ApiToken['role'];

export const SIGNATURE_HEADER = 'x-grafana-alerting-signature';
export const TIMESTAMP_HEADER = 'x-grafana-alerting-timestamp';

export type AuthResult = { ok: true; method: string; name: string } | { ok: false; reason: string };

/**
 * Equality that takes the same time wherever the inputs differ: both sides are hashed first so the
 * lengths match and timingSafeEqual can be used on any input length.
 */
export function safeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const left = createHash('sha256').update(a).digest();
  const right = createHash('sha256').update(b).digest();
  return timingSafeEqual(left, right);
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The credential of an `Authorization: <scheme> <credential>` header, scheme case-insensitive. */
export function credentialFor(headers: IncomingHttpHeaders, scheme: 'bearer' | 'basic'): string | undefined {
  const value = header(headers, 'authorization');
  if (!value) return undefined;
  const space = value.indexOf(' ');
  if (space === -1 || value.slice(0, space).toLowerCase() !== scheme) return undefined;
  return value.slice(space + 1).trim();
}

/** Hex HMAC-SHA256 as Grafana computes it: over `"<ts>:" + body` when it sends a timestamp. */
export function grafanaSignature(secret: string, body: Buffer, timestamp?: string): string {
  const mac = createHmac('sha256', secret);
  if (timestamp !== undefined) mac.update(`${timestamp}:`);
  return mac.update(body).digest('hex');
}

function checkHmac(
  config: NonNullable<WebhookAuthConfig['grafanaHmac']>,
  headers: IncomingHttpHeaders,
  body: Buffer,
  now: number,
): AuthResult | undefined {
  const signature = header(headers, SIGNATURE_HEADER);
  if (signature === undefined) return undefined;
  const timestamp = header(headers, TIMESTAMP_HEADER);
  if (timestamp === undefined && config.requireTimestamp)
    return { ok: false, reason: 'signature without a timestamp header (replayable)' };
  if (timestamp !== undefined) {
    if (!/^\d{1,16}$/.test(timestamp)) return { ok: false, reason: 'malformed signature timestamp' };
    // Grafana sends Unix seconds; accept milliseconds too rather than refuse a sender that uses them.
    const value = Number(timestamp);
    const sentAt = value > 1e12 ? value : value * 1000;
    if (Math.abs(now - sentAt) > config.maxSkew * 1000) {
      return { ok: false, reason: 'signature timestamp outside the allowed clock skew' };
    }
  }
  const expected = grafanaSignature(config.secret, body, timestamp);
  // Plain hex as Grafana sends it; a `sha256=` prefix (GitHub's convention, used by some relays) is accepted.
  const presented = signature
    .trim()
    .toLowerCase()
    .replace(/^sha256=/, '');
  if (!safeEqual(expected, presented)) return { ok: false, reason: 'bad signature' };
  return { ok: true, method: 'grafana-hmac', name: 'grafana-hmac' };
}

/**
 * Webhook authentication: any configured method that the request uses and passes grants access.
 * Every configured secret is compared, so the time taken does not reveal which one was close.
 */
export function checkWebhookAuth(
  config: WebhookAuthConfig,
  headers: IncomingHttpHeaders,
  body: Buffer,
  now: number,
): AuthResult {
  const results: AuthResult[] = [];
  if (config.grafanaHmac) {
    const result = checkHmac(config.grafanaHmac, headers, body, now);
    if (result) results.push(result);
  }
  if (config.bearer) {
    const token = credentialFor(headers, 'bearer');
    if (token !== undefined) {
      results.push(
        safeEqual(token, config.bearer)
          ? { ok: true, method: 'bearer', name: 'bearer' }
          : { ok: false, reason: 'bad bearer token' },
      );
    }
  }
  if (config.basic) {
    const encoded = credentialFor(headers, 'basic');
    if (encoded !== undefined) {
      const decoded = Buffer.from(encoded, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const user = colon === -1 ? decoded : decoded.slice(0, colon);
      const password = colon === -1 ? '' : decoded.slice(colon + 1);
      // Both halves are always compared: no early exit on a wrong user name.
      const userOk = safeEqual(user, config.basic.username);
      const passwordOk = safeEqual(password, config.basic.password);
      results.push(
        userOk && passwordOk
          ? { ok: true, method: 'basic', name: config.basic.username }
          : { ok: false, reason: 'bad basic credentials' },
      );
    }
  }
  const success = results.find((result) => result.ok);
  if (success) return success;
  const failure = results.find((result) => !result.ok);
  return failure ?? { ok: false, reason: 'no credentials' };
}

/** The `WWW-Authenticate` challenge for the webhook's configured methods. */
export function webhookChallenge(config: WebhookAuthConfig): string {
  const challenges: string[] = [];
  if (config.bearer) challenges.push('Bearer realm="lokiban"');
  if (config.basic) challenges.push('Basic realm="lokiban", charset="UTF-8"');
  if (challenges.length === 0) challenges.push('HMAC realm="lokiban"');
  return challenges.join(', ');
}

export type ApiAuthResult =
  | { ok: true; name: string; role: Role }
  | { ok: false; status: 401 | 403; reason: string };

/** API authentication and authorisation: a bearer token from `auth.api.tokens` with a sufficient role. */
export function checkApiAuth(
  tokens: readonly ApiToken[],
  headers: IncomingHttpHeaders,
  required: Role,
): ApiAuthResult {
  const presented = credentialFor(headers, 'bearer');
  if (presented === undefined) return { ok: false, status: 401, reason: 'missing bearer token' };
  let match: ApiToken | undefined;
  // Compare against every token so the time does not depend on which entry matched.
  for (const entry of tokens) {
    if (safeEqual(presented, entry.token) && !match) match = entry;
  }
  if (!match) return { ok: false, status: 401, reason: 'unknown token' };
  if (required === 'admin' && match.role !== 'admin') {
    return { ok: false, status: 403, reason: `token "${match.name}" has role read; this route needs admin` };
  }
  return { ok: true, name: match.name, role: match.role };
}
