import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/support/app.js';
import { ADMIN_TOKEN, testConfig, WEBHOOK_TOKEN } from '../../test/support/config.js';
import { FakeStore } from '../../test/support/fake-store.js';
import { buildDecisionPolicy } from '../config/policy.js';
import { StoreUnavailableError } from '../store/errors.js';

const body = readFileSync(new URL('./fixtures/alertmanager-0.25.json', import.meta.url), 'utf8');

/** The database being away is not a server bug: 503, so senders retry and load balancers move on. */
describe('store unavailable', () => {
  let store: FakeStore;
  let t: TestApp;

  beforeEach(async () => {
    const config = testConfig();
    store = new FakeStore();
    t = await buildTestApp({
      config,
      store,
      policy: buildDecisionPolicy(config, { localAddresses: [] }),
    });
  });
  afterEach(async () => {
    await t.app.close();
  });

  const deliver = () =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/webhook',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}` },
      payload: body,
    });

  it('answers a webhook 503 and records nothing, then accepts the retry', async () => {
    store.failNext = new StoreUnavailableError('postgres unavailable during record batch: ECONNREFUSED');
    const response = await deliver();
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      message: 'store unavailable, retry later',
    });
    expect(t.changes).toHaveLength(0);
    expect(t.logs.text).toContain('store unavailable');
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toContain('lokiban_webhook_requests_total{outcome="unavailable"} 1');
    expect((await deliver()).statusCode).toBe(200);
  });

  it('answers API reads 503 too', async () => {
    store.failNext = new StoreUnavailableError('postgres unavailable during list bans: timeout');
    const response = await t.app.inject({
      method: 'GET',
      url: '/api/v1/bans',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(response.statusCode).toBe(503);
  });
});
