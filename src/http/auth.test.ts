import { describe, expect, it } from 'vitest';
import {
  checkApiAuth,
  checkWebhookAuth,
  grafanaSignature,
  SIGNATURE_HEADER,
  safeEqual,
  TIMESTAMP_HEADER,
  webhookChallenge,
} from './auth.js';

const body = Buffer.from('{"version":"1","alerts":[]}');
const now = Date.parse('2026-11-27T08:00:00Z');
const secret = 'hmac-secret-0123456789abcdef';
const all = {
  bearer: 'bearer-token-0123456789',
  basic: { username: 'alertmanager', password: 'basic-password-0123' },
  grafanaHmac: { secret, maxSkew: 300, requireTimestamp: false },
};

describe('safeEqual', () => {
  it('compares inputs of any length', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abcd')).toBe(false);
    expect(safeEqual('', 'x')).toBe(false);
  });
});

describe('webhook auth', () => {
  it('accepts the right bearer token, case-insensitive scheme', () => {
    expect(checkWebhookAuth(all, { authorization: `Bearer ${all.bearer}` }, body, now)).toMatchObject({
      ok: true,
      method: 'bearer',
    });
    expect(checkWebhookAuth(all, { authorization: `bearer ${all.bearer}` }, body, now).ok).toBe(true);
    expect(checkWebhookAuth(all, { authorization: 'Bearer nope' }, body, now)).toEqual({
      ok: false,
      reason: 'bad bearer token',
    });
  });

  it('checks both halves of basic auth', () => {
    const basic = (user: string, pass: string) =>
      `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    expect(
      checkWebhookAuth(all, { authorization: basic('alertmanager', all.basic.password) }, body, now).ok,
    ).toBe(true);
    expect(checkWebhookAuth(all, { authorization: basic('other', all.basic.password) }, body, now).ok).toBe(
      false,
    );
    expect(checkWebhookAuth(all, { authorization: basic('alertmanager', 'wrong') }, body, now).ok).toBe(
      false,
    );
    // A password containing ':' is split at the first colon only.
    const colon = { basic: { username: 'u', password: 'pa:ss-0123456789abcdef' } };
    expect(checkWebhookAuth(colon, { authorization: basic('u', colon.basic.password) }, body, now).ok).toBe(
      true,
    );
  });

  it('verifies Grafana HMAC with and without a timestamp', () => {
    const ts = String(now / 1000);
    const signed = grafanaSignature(secret, body, ts);
    expect(signed).toMatch(/^[0-9a-f]{64}$/);
    const headers = { [SIGNATURE_HEADER]: signed, [TIMESTAMP_HEADER]: ts };
    expect(checkWebhookAuth(all, headers, body, now)).toMatchObject({ ok: true, method: 'grafana-hmac' });
    expect(checkWebhookAuth(all, { [SIGNATURE_HEADER]: grafanaSignature(secret, body) }, body, now).ok).toBe(
      true,
    );
    expect(
      checkWebhookAuth(all, { ...headers, [SIGNATURE_HEADER]: `sha256=${signed.toUpperCase()}` }, body, now)
        .ok,
    ).toBe(true);
    // The same signature over a different body, or with the timestamp stripped, fails.
    expect(checkWebhookAuth(all, headers, Buffer.from('{}'), now).ok).toBe(false);
    expect(checkWebhookAuth(all, { [SIGNATURE_HEADER]: signed }, body, now).ok).toBe(false);
  });

  it('refuses a signature without a timestamp unless requireTimestamp is off: it could be replayed forever', () => {
    const strict = { ...all, grafanaHmac: { ...all.grafanaHmac, requireTimestamp: true } };
    const untimed = { [SIGNATURE_HEADER]: grafanaSignature(secret, body) };
    expect(checkWebhookAuth(strict, untimed, body, now)).toEqual({
      ok: false,
      reason: 'signature without a timestamp header (replayable)',
    });
    const ts = String(now / 1000);
    const timed = { [SIGNATURE_HEADER]: grafanaSignature(secret, body, ts), [TIMESTAMP_HEADER]: ts };
    expect(checkWebhookAuth(strict, timed, body, now).ok).toBe(true);
  });

  it('refuses stale and future timestamps beyond maxSkew', () => {
    for (const offset of [-301, 301]) {
      const ts = String(now / 1000 + offset);
      const headers = { [SIGNATURE_HEADER]: grafanaSignature(secret, body, ts), [TIMESTAMP_HEADER]: ts };
      expect(checkWebhookAuth(all, headers, body, now)).toEqual({
        ok: false,
        reason: 'signature timestamp outside the allowed clock skew',
      });
    }
    const ts = String(now / 1000 - 299);
    const fresh = { [SIGNATURE_HEADER]: grafanaSignature(secret, body, ts), [TIMESTAMP_HEADER]: ts };
    expect(checkWebhookAuth(all, fresh, body, now).ok).toBe(true);
    const bad = { [SIGNATURE_HEADER]: 'aa', [TIMESTAMP_HEADER]: '12a' };
    expect(checkWebhookAuth(all, bad, body, now)).toEqual({
      ok: false,
      reason: 'malformed signature timestamp',
    });
  });

  it('ignores methods that are not configured', () => {
    const bearerOnly = { bearer: all.bearer };
    const headers = { [SIGNATURE_HEADER]: grafanaSignature(secret, body) };
    expect(checkWebhookAuth(bearerOnly, headers, body, now)).toEqual({ ok: false, reason: 'no credentials' });
    expect(webhookChallenge(bearerOnly)).toBe('Bearer realm="lokiban"');
    expect(webhookChallenge(all)).toContain('Basic realm="lokiban"');
  });
});

describe('api auth', () => {
  const tokens = [
    { name: 'grafana', token: 'read-token-0123456789', role: 'read' as const },
    { name: 'ops', token: 'admin-token-0123456789', role: 'admin' as const },
  ];
  it('maps tokens to roles', () => {
    expect(checkApiAuth(tokens, { authorization: 'Bearer read-token-0123456789' }, 'read')).toEqual({
      ok: true,
      name: 'grafana',
      role: 'read',
    });
    expect(checkApiAuth(tokens, { authorization: 'Bearer read-token-0123456789' }, 'admin')).toMatchObject({
      ok: false,
      status: 403,
    });
    expect(checkApiAuth(tokens, { authorization: 'Bearer admin-token-0123456789' }, 'admin').ok).toBe(true);
    expect(checkApiAuth(tokens, { authorization: 'Bearer x' }, 'read')).toMatchObject({ status: 401 });
    expect(checkApiAuth(tokens, {}, 'read')).toMatchObject({ status: 401, reason: 'missing bearer token' });
    expect(checkApiAuth([], { authorization: 'Bearer read-token-0123456789' }, 'read').ok).toBe(false);
  });
});
