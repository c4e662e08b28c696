import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/support/app.js';
import {
  ADMIN_TOKEN,
  BASIC_PASSWORD,
  HMAC_SECRET,
  READ_TOKEN,
  testConfig,
  WEBHOOK_TOKEN,
} from '../../test/support/config.js';
import { FakeStore } from '../../test/support/fake-store.js';
import type { Config } from '../config/load.js';
import { buildDecisionPolicy } from '../config/policy.js';
import type { DecisionPolicy } from '../domain/policy.js';
import type { EnforcementStatus } from '../enforce/port.js';
import { grafanaSignature, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './auth.js';

const NOW = Date.parse('2026-11-27T08:01:00Z');
const fixtureText = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const alertmanagerBody = fixtureText('alertmanager-0.25.json');

function simplePolicy(config: Config): DecisionPolicy {
  return buildDecisionPolicy(config, { now: () => NOW, random: () => 0, localAddresses: [] });
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const json = { 'content-type': 'application/json' };

let store: FakeStore;
let t: TestApp;

async function setup(config: Config = testConfig(), enforcement?: EnforcementStatus) {
  store = new FakeStore();
  t = await buildTestApp({
    config,
    store,
    policy: simplePolicy(config),
    now: () => NOW,
    ...(enforcement ? { enforcement } : {}),
  });
}

afterEach(async () => {
  await t?.app.close();
});

describe('POST /api/v1/webhook', () => {
  beforeEach(() => setup());

  const deliver = (body: string, headers: Record<string, string> = bearer(WEBHOOK_TOKEN)) =>
    t.app.inject({ method: 'POST', url: '/api/v1/webhook', headers: { ...json, ...headers }, payload: body });

  it('records an Alertmanager group and answers per-alert outcomes', async () => {
    const response = await deliver(alertmanagerBody);
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.received).toBe(3);
    expect(body.results.map((r: { outcome: string }) => r.outcome)).toEqual([
      'banned',
      'banned',
      'resolved-recorded',
    ]);
    expect(body.results[0]).toMatchObject({ index: 0, ip: '203.0.113.7', jail: 'sshd', banId: 1 });
    expect(store.batches).toHaveLength(1);
    expect(store.batches[0]!.source).toBe('alertmanager');
    expect(store.bans.map((ban) => ban.ip)).toEqual(['203.0.113.7', '2001:db8:1:2::/64']);
    // onChange hears about the hosts of the new bans (origin host of each alert) only after recording.
    expect(t.changes).toEqual([['web1', 'web2']]);
  });

  it('is idempotent: the same delivery again is a duplicate and changes nothing', async () => {
    await deliver(alertmanagerBody);
    const again = await deliver(alertmanagerBody);
    expect(again.statusCode).toBe(200);
    expect(
      again
        .json()
        .results.slice(0, 2)
        .map((r: { outcome: string }) => r.outcome),
    ).toEqual(['duplicate', 'duplicate']);
    expect(store.bans).toHaveLength(2);
    expect(t.changes).toHaveLength(1);
  });

  it('detects Grafana payloads and ignores NoData alerts', async () => {
    const response = await deliver(fixtureText('grafana-webhook.json'));
    expect(response.statusCode).toBe(200);
    expect(store.batches[0]!.source).toBe('grafana');
    expect(response.json().results.map((r: { outcome: string }) => r.outcome)).toEqual([
      'banned',
      'ignored-no-ip',
    ]);
  });

  it('warns when Alertmanager truncated the group', async () => {
    const truncated = JSON.parse(alertmanagerBody);
    truncated.truncatedAlerts = 12;
    expect((await deliver(JSON.stringify(truncated))).statusCode).toBe(200);
    const warning = t.logs.lines.map((line) => JSON.parse(line)).find((line) => line.truncatedAlerts === 12);
    expect(warning).toMatchObject({ level: 40, msg: expect.stringContaining('max_alerts') });
  });

  it('warns and counts alerts for a jail lokiban.yaml does not configure', async () => {
    const body = JSON.parse(alertmanagerBody);
    body.alerts[0].labels.jail = 'shd';
    const response = await deliver(JSON.stringify(body));
    expect(response.json().results[0]).toMatchObject({ outcome: 'ignored-unknown-jail' });
    const warning = t.logs.lines.map((line) => JSON.parse(line)).find((line) => line.unknownJail === 1);
    expect(warning).toMatchObject({
      level: 40,
      reasons: ['jail "shd" is not configured'],
      msg: expect.stringContaining('unknown jail'),
    });
    expect((await t.app.inject('/metrics')).body).toContain('lokiban_alerts_unknown_jail_total 1');
  });

  it('answers an empty group without touching the store', async () => {
    const response = await deliver(JSON.stringify({ version: '4', status: 'resolved', alerts: [] }));
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ received: 0, results: [] });
    expect(store.batches).toHaveLength(0);
  });

  it('refuses missing and wrong credentials with 401 and a challenge', async () => {
    for (const headers of [{}, bearer('wrong-token-0123456789'), bearer(READ_TOKEN), bearer(ADMIN_TOKEN)]) {
      const response = await deliver(alertmanagerBody, headers);
      expect(response.statusCode).toBe(401);
      expect(response.headers['www-authenticate']).toBe('Bearer realm="lokiban"');
      expect(response.json()).toEqual({
        statusCode: 401,
        error: 'Unauthorized',
        message: 'authentication required',
      });
    }
    expect(store.batches).toHaveLength(0);
  });

  it('checks auth before reporting a bad body', async () => {
    const response = await deliver('{not json', {});
    expect(response.statusCode).toBe(401);
  });

  it('answers 400 naming the problem for invalid JSON and schema errors', async () => {
    const broken = await deliver('{"version": "4", "alerts": [');
    expect(broken.statusCode).toBe(400);
    expect(broken.json().message).toMatch(/^body is not valid JSON: /);

    const empty = await deliver('');
    expect(empty.statusCode).toBe(400);

    const wrong = JSON.parse(alertmanagerBody);
    wrong.alerts[1].startsAt = 'yesterday';
    wrong.alerts[2].labels = ['ip'];
    const invalid = await deliver(JSON.stringify(wrong));
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().message).toBe(
      'alerts[1].startsAt: expected an RFC 3339 timestamp; alerts[2].labels: Invalid input: expected record, received array',
    );
    expect(store.batches).toHaveLength(0);
  });

  it('answers 415 for a body that is not JSON', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/webhook',
      headers: { ...bearer(WEBHOOK_TOKEN), 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'version=4',
    });
    expect(response.statusCode).toBe(415);
    expect(response.json().error).toBe('Unsupported Media Type');
    expect(store.batches).toHaveLength(0);
  });

  it('answers 413 over the body limit', async () => {
    const huge = JSON.parse(alertmanagerBody);
    huge.commonAnnotations = { filler: 'x'.repeat(70_000) };
    const response = await deliver(JSON.stringify(huge));
    expect(response.statusCode).toBe(413);
    expect(response.json().error).toBe('Payload Too Large');
  });

  it('answers 500 "Internal Server Error" when the store cannot record, so the sender retries', async () => {
    store.failNext = new Error('SQLITE_FULL: database or disk is full');
    const response = await deliver(alertmanagerBody);
    expect(response.statusCode).toBe(500);
    expect(response.json()).toEqual({
      statusCode: 500,
      error: 'Internal Server Error',
      message: 'Internal Server Error',
    });
    expect(t.changes).toHaveLength(0);
    expect(t.logs.text).toContain('SQLITE_FULL');
    // The retry then succeeds.
    expect((await deliver(alertmanagerBody)).statusCode).toBe(200);
  });

  it('waits for the store before answering', async () => {
    store.delayMs = 150;
    const started = Date.now();
    const response = await deliver(alertmanagerBody);
    expect(response.statusCode).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(store.batches).toHaveLength(1);
  });

  it('logs a delivery that changed something at info, a repeat of known alerts at debug', async () => {
    const firing = JSON.stringify({
      version: '4',
      status: 'firing',
      receiver: 'lokiban',
      alerts: [
        {
          status: 'firing',
          labels: { alertname: 'SshdBruteForce', ip: '203.0.113.50', jail: 'sshd' },
          annotations: {},
          startsAt: '2026-11-27T07:00:00Z',
          endsAt: '0001-01-01T00:00:00Z',
        },
      ],
    });
    expect((await deliver(firing)).statusCode).toBe(200);
    expect((await deliver(firing)).statusCode).toBe(200);
    const processed = t.logs.lines
      .map((line) => JSON.parse(line) as { level: number; msg: string; outcomes: Record<string, number> })
      .filter((line) => line.msg === 'webhook processed');
    expect(processed.map((line) => line.level)).toEqual([30, 20]);
    expect(Object.keys(processed[1]!.outcomes)).toEqual(['duplicate']);
  });

  it('never logs credentials or payload contents', async () => {
    await deliver(alertmanagerBody);
    await deliver(alertmanagerBody, bearer('guess-token-0123456789'));
    const text = t.logs.text;
    expect(text).toContain('webhook processed');
    expect(text).toContain('webhook authentication failed');
    for (const secret of [WEBHOOK_TOKEN, 'guess-token-0123456789', '203.0.113.7', 'Failed password']) {
      expect(text).not.toContain(secret);
    }
    // The method is not a secret, and the operator reading the log needs it.
    expect(processedAuth()).toEqual(['bearer']);
  });
});

/** The `auth` field of each "webhook processed" line: which method authenticated the delivery. */
function processedAuth(): unknown[] {
  return t.logs.lines
    .map((line) => JSON.parse(line) as { msg: string; auth?: unknown })
    .filter((line) => line.msg === 'webhook processed')
    .map((line) => line.auth);
}

describe('webhook auth modes', () => {
  const basicConfig = () =>
    testConfig({ webhook: `{ basic: { username: alertmanager, password: "${BASIC_PASSWORD}" } }` });
  const hmacConfig = () =>
    testConfig({ webhook: `{ grafanaHmac: { secret: "${HMAC_SECRET}", maxSkew: 60 } }` });
  const post = (headers: Record<string, string>, body = alertmanagerBody) =>
    t.app.inject({ method: 'POST', url: '/api/v1/webhook', headers: { ...json, ...headers }, payload: body });

  it('basic auth', async () => {
    await setup(basicConfig());
    const good = Buffer.from(`alertmanager:${BASIC_PASSWORD}`).toString('base64');
    const bad = Buffer.from('alertmanager:nope').toString('base64');
    expect((await post({ authorization: `Basic ${good}` })).statusCode).toBe(200);
    const refused = await post({ authorization: `Basic ${bad}` });
    expect(refused.statusCode).toBe(401);
    expect(refused.headers['www-authenticate']).toContain('Basic realm="lokiban"');
    expect((await post(bearer(WEBHOOK_TOKEN))).statusCode).toBe(401);
    expect(processedAuth()).toEqual(['basic']);
    expect(t.logs.text).not.toContain(BASIC_PASSWORD);
  });

  it('Grafana HMAC over the raw body as sent, with timestamp', async () => {
    await setup(hmacConfig());
    // Whitespace and key order that JSON.stringify would not reproduce: the signature covers the bytes.
    const body = fixtureText('grafana-webhook.json');
    // A valid signature over a timestamp an hour in the future of the app's clock (fixed at NOW).
    const ts = String(NOW / 1000 + 3600);
    const signature = grafanaSignature(HMAC_SECRET, Buffer.from(body), ts);
    const fixedTs = String(NOW / 1000);
    const fixedSignature = grafanaSignature(HMAC_SECRET, Buffer.from(body), fixedTs);
    expect(
      (await post({ [SIGNATURE_HEADER]: fixedSignature, [TIMESTAMP_HEADER]: fixedTs }, body)).statusCode,
    ).toBe(200);
    expect((await post({ [SIGNATURE_HEADER]: signature, [TIMESTAMP_HEADER]: ts }, body)).statusCode).toBe(
      401,
    );
    const stale = String(NOW / 1000 - 61);
    const staleSignature = grafanaSignature(HMAC_SECRET, Buffer.from(body), stale);
    expect(
      (await post({ [SIGNATURE_HEADER]: staleSignature, [TIMESTAMP_HEADER]: stale }, body)).statusCode,
    ).toBe(401);
    const tampered = body.replace('192.0.2.44', '192.0.2.45');
    expect(
      (await post({ [SIGNATURE_HEADER]: fixedSignature, [TIMESTAMP_HEADER]: fixedTs }, tampered)).statusCode,
    ).toBe(401);
    // Without a timestamp a signature could be replayed forever: refused by default.
    const noTimestamp = grafanaSignature(HMAC_SECRET, Buffer.from(body));
    expect((await post({ [SIGNATURE_HEADER]: noTimestamp }, body)).statusCode).toBe(401);
    expect(t.logs.text).not.toContain(fixedSignature);
    await t.app.close();
    await setup(
      testConfig({
        webhook: `{ grafanaHmac: { secret: "${HMAC_SECRET}", maxSkew: 60, requireTimestamp: false } }`,
      }),
    );
    expect((await post({ [SIGNATURE_HEADER]: noTimestamp }, body)).statusCode).toBe(200);
    expect(processedAuth()).toEqual(['grafana-hmac']);
  });
});

describe('API', () => {
  let held = true;
  let unreachable = false;
  const confirmed: string[] = [];
  const enforcement: EnforcementStatus = {
    hosts: () => [
      {
        name: 'web1',
        state: 'down',
        queueDepth: 3,
        lastError: 'web1: connect ECONNREFUSED',
        lastAppliedAt: null,
        lastReconcile: { at: NOW - 60_000, added: 1, removed: 0, retimed: 2 },
        setAside: {
          count: 1,
          examples: [{ ip: '10.0.0.0/4', reason: 'prefix /4 is too wide to ban', since: NOW - 5_000 }],
        },
        reconcileHeld: held ? { wouldRemove: 50_000, present: 50_000, since: NOW - 1_000 } : null,
      },
    ],
    async confirmReconcile(host) {
      confirmed.push(host);
      if (unreachable) return { added: 0, removed: 0, retimed: 0, skipped: 'connect ECONNREFUSED' };
      held = false;
      return { added: 0, removed: 50_000, retimed: 0 };
    },
  };
  beforeEach(() => {
    held = true;
    unreachable = false;
    confirmed.length = 0;
    return setup(testConfig(), enforcement);
  });

  const get = (url: string, token = READ_TOKEN) =>
    t.app.inject({ method: 'GET', url, headers: bearer(token) });
  const post = (url: string, payload: unknown, token = ADMIN_TOKEN) =>
    t.app.inject({ method: 'POST', url, headers: bearer(token), payload: payload as object });

  it('requires a token; read tokens cannot ban', async () => {
    const anonymous = await t.app.inject({ method: 'GET', url: '/api/v1/bans' });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers['www-authenticate']).toBe('Bearer realm="lokiban"');
    expect((await get('/api/v1/bans', WEBHOOK_TOKEN)).statusCode).toBe(401);
    const forbidden = await post('/api/v1/bans', { ip: '203.0.113.7', jail: 'sshd' }, READ_TOKEN);
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json().message).toBe('token "grafana" has role read; this route needs admin');
    expect(store.bans).toHaveLength(0);
    expect(
      (await t.app.inject({ method: 'DELETE', url: '/api/v1/bans/203.0.113.7', headers: bearer(READ_TOKEN) }))
        .statusCode,
    ).toBe(403);
  });

  it('bans by hand, lists, shows one ban and an IP history, and unbans', async () => {
    const created = await post('/api/v1/bans', {
      ip: '203.0.113.7',
      jail: 'sshd',
      duration: '2h',
      reason: 'seen',
    });
    expect(created.statusCode).toBe(201);
    const ban = created.json();
    expect(ban).toMatchObject({
      id: 1,
      ip: '203.0.113.7',
      jail: 'sshd',
      source: 'manual',
      expiresAt: new Date(NOW + 7_200_000).toISOString(),
      liftedAt: null,
    });
    expect(ban.hosts.map((h: { host: string }) => h.host)).toEqual(['web1', 'web2']);
    expect(t.changes).toEqual([['web1', 'web2']]);
    expect(store.audit[0]).toMatchObject({ kind: 'ban', actor: 'ops' });

    const list = await get('/api/v1/bans?active=true&jail=sshd');
    expect(list.statusCode).toBe(200);
    expect(list.json()).toMatchObject({ now: new Date(NOW).toISOString(), bans: [{ id: 1 }] });
    expect((await get('/api/v1/bans?jail=nginx-http-auth')).json().bans).toEqual([]);

    expect((await get('/api/v1/bans/1')).json()).toMatchObject({ id: 1, ip: '203.0.113.7' });
    expect((await get('/api/v1/bans/99')).statusCode).toBe(404);
    expect((await get('/api/v1/bans/203.0.113.7')).json()).toMatchObject({
      ip: '203.0.113.7',
      bans: [{ id: 1 }],
    });
    expect((await get('/api/v1/bans/nonsense')).statusCode).toBe(400);

    const lifted = await post('/api/v1/unban', { ip: '203.0.113.7' });
    expect(lifted.statusCode).toBe(200);
    expect(lifted.json()).toMatchObject({ ip: '203.0.113.7', unbanned: [{ id: 1, liftedBy: 'ops' }] });
    expect(t.changes).toHaveLength(2);
    expect((await get('/api/v1/bans?active=true')).json().bans).toEqual([]);
    expect((await get('/api/v1/bans?active=false')).json().bans).toHaveLength(1);
  });

  it('unbans with DELETE /api/v1/bans/:ip and a jail filter', async () => {
    await post('/api/v1/bans', { ip: '2001:db8::/64', jail: 'sshd' });
    await post('/api/v1/bans', { ip: '2001:db8::/64', jail: 'nginx-http-auth' });
    const response = await t.app.inject({
      method: 'DELETE',
      url: '/api/v1/bans/2001:db8::%2F64?jail=sshd',
      headers: bearer(ADMIN_TOKEN),
    });
    expect(response.statusCode).toBe(200);
    expect(response.json().unbanned.map((b: { jail: string }) => b.jail)).toEqual(['sshd']);
  });

  it('defaults a manual ban without jail to the "manual" jail with default settings', async () => {
    const response = await post('/api/v1/bans', { ip: '198.51.100.0/24' });
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({ jail: 'manual', ip: '198.51.100.0/24' });
    const jails = (await get('/api/v1/jails')).json().jails;
    expect(jails.find((j: { name: string }) => j.name === 'manual')).toMatchObject({
      bantime: 600,
      active: 1,
    });
  });

  it('rejects bad manual bans with precise messages', async () => {
    const cases: Array<[unknown, string]> = [
      [{ ip: '1.2.3.4; reboot', jail: 'sshd' }, 'body.ip: expected an IPv4/IPv6 address or CIDR'],
      [{ ip: '203.0.113.7', jail: 'nope' }, 'body.jail: unknown jail "nope"'],
      [
        { ip: '203.0.113.7', jail: 'sshd', duration: 'soon' },
        'body.duration: invalid duration "soon": use seconds or 30s, 10m, 1h, 1d, 1w',
      ],
      [
        { ip: '203.0.113.7', jail: 'sshd', duration: '999999w' },
        'body.duration: 999999w is longer than the maximum ban of 2147483647s (3550w5d3h14m7s, about 68 years); use -1 for a permanent ban',
      ],
      [
        { ip: '203.0.113.7', jail: 'sshd', duration: 2_147_483_648 },
        'body.duration: 3550w5d3h14m8s is longer than the maximum ban of 2147483647s (3550w5d3h14m7s, about 68 years); use -1 for a permanent ban',
      ],
      [{ ip: '203.0.113.7', jail: 'sshd', hosts: ['db9'] }, 'body.hosts: unknown host "db9"'],
      [{ ip: '203.0.113.7', jail: 'sshd', extra: 1 }, 'body: Unrecognized key: "extra"'],
    ];
    for (const [payload, message] of cases) {
      const response = await post('/api/v1/bans', payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.json().message).toBe(message);
    }
    expect(store.bans).toHaveLength(0);
  });

  it('rejects invalid JSON on API routes with 400', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/bans',
      headers: { ...bearer(ADMIN_TOKEN), ...json },
      payload: '{"ip":',
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toBe('Bad Request');
  });

  it('lists jails like fail2ban-client status, and one jail with its bans', async () => {
    await post('/api/v1/bans', { ip: '203.0.113.7', jail: 'sshd' });
    const jails = (await get('/api/v1/jails')).json().jails;
    expect(jails.map((j: { name: string }) => j.name)).toEqual(['sshd', 'nginx-http-auth', 'postfix-sasl']);
    expect(jails[0]).toMatchObject({ name: 'sshd', bantime: 3600, maxretry: 5, active: 1, total: 1 });
    expect(jails[2]).toMatchObject({ enabled: false, active: 0 });
    const sshd = (await get('/api/v1/jails/sshd')).json();
    expect(sshd).toMatchObject({ name: 'sshd', active: 1, bans: [{ ip: '203.0.113.7' }] });
    expect((await get('/api/v1/jails/nope')).statusCode).toBe(404);
  });

  it("publishes each jail's log pipeline and address label for Explore links", async () => {
    await t.app.close();
    const config = testConfig();
    store = new FakeStore();
    t = await buildTestApp({
      config,
      store,
      policy: simplePolicy(config),
      now: () => NOW,
      jailPipelines: {
        sshd: ['{job="sshd"} | regexp `^x (?P<ip>\\S+)$` | ip != ""'],
        'nginx-http-auth': ['{job="a"} | regexp `^a (?P<ip>\\S+)$`', '{job="a"} | regexp `^b (?P<ip>\\S+)$`'],
      },
    });
    await post('/api/v1/bans', { ip: '203.0.113.7' });
    const jails = (await get('/api/v1/jails')).json().jails;
    expect(jails[0]).toMatchObject({
      name: 'sshd',
      logql: '{job="sshd"} | regexp `^x (?P<ip>\\S+)$` | ip != ""',
      logqlParts: ['{job="sshd"} | regexp `^x (?P<ip>\\S+)$` | ip != ""'],
      ipLabel: 'ip',
    });
    // A jail of several rules has no single query: one per rule, together every line it counts.
    expect(jails[1]).toMatchObject({
      name: 'nginx-http-auth',
      logqlParts: [expect.any(String), expect.any(String)],
    });
    expect(jails[1]).not.toHaveProperty('logql');
    const manual = jails.find((j: { name: string }) => j.name === 'manual');
    expect(manual).toMatchObject({ ipLabel: 'ip' });
    expect(manual).not.toHaveProperty('logql');
    expect((await get('/api/v1/jails/sshd')).json()).toMatchObject({
      logql: expect.stringContaining('regexp'),
    });
  });

  it('reports host enforcement state merged with the configured hosts', async () => {
    const hosts = (await get('/api/v1/hosts')).json();
    expect(hosts.transport).toBe('dry-run');
    expect(hosts.hosts).toEqual([
      {
        name: 'web1',
        address: '192.0.2.10',
        backend: 'nftables',
        state: 'down',
        queueDepth: 3,
        lastError: 'web1: connect ECONNREFUSED',
        lastAppliedAt: null,
        lastReconcile: { at: new Date(NOW - 60_000).toISOString(), added: 1, removed: 0, retimed: 2 },
        setAside: {
          count: 1,
          examples: [
            {
              ip: '10.0.0.0/4',
              reason: 'prefix /4 is too wide to ban',
              since: new Date(NOW - 5_000).toISOString(),
            },
          ],
        },
        reconcileHeld: { wouldRemove: 50_000, present: 50_000, since: new Date(NOW - 1_000).toISOString() },
      },
      {
        name: 'web2',
        address: '192.0.2.11',
        backend: 'nftables',
        state: 'unknown',
        queueDepth: 0,
        lastError: null,
        lastAppliedAt: null,
        lastReconcile: null,
        setAside: { count: 0, examples: [] },
        reconcileHeld: null,
      },
    ]);
  });

  it('confirms held reconcile removals for an admin only, once', async () => {
    const url = '/api/v1/hosts/web1/reconcile';
    const gauge = async () =>
      (await t.app.inject('/metrics')).body.match(/lokiban_host_reconcile_held\{host="web1"\} (\d+)/)?.[1];
    expect(await gauge()).toBe('50000');
    expect((await post(url, { confirm: true }, READ_TOKEN)).statusCode).toBe(403);
    expect((await post(url, {})).statusCode).toBe(400);
    expect((await post(url, { confirm: false })).statusCode).toBe(400);
    expect((await post('/api/v1/hosts/nope/reconcile', { confirm: true })).statusCode).toBe(404);
    expect((await post('/api/v1/hosts/web2/reconcile', { confirm: true })).json()).toMatchObject({
      statusCode: 409,
      message: 'host "web2": no reconcile removals are held',
    });
    unreachable = true;
    expect((await post(url, { confirm: true })).json()).toMatchObject({
      statusCode: 409,
      message: 'host "web1": reconcile not run, try again: connect ECONNREFUSED',
    });
    unreachable = false;
    confirmed.length = 0;
    const done = await post(url, { confirm: true });
    expect(done.statusCode).toBe(200);
    expect(done.json()).toEqual({ host: 'web1', added: 0, removed: 50_000, retimed: 0 });
    expect(confirmed).toEqual(['web1']);
    expect((await get('/api/v1/hosts')).json().hosts[0].reconcileHeld).toBeNull();
    expect(await gauge()).toBe('0');
    expect((await post(url, { confirm: true })).statusCode).toBe(409);
    expect(confirmed).toEqual(['web1']);
  });

  it('serves stats and audit with validated queries', async () => {
    await post('/api/v1/bans', { ip: '203.0.113.7', jail: 'sshd' });
    const stats = await get('/api/v1/stats?from=2026-11-26T08:00:00Z&bucket=1h');
    expect(stats.statusCode).toBe(200);
    expect(stats.json().perJail).toEqual([{ jail: 'sshd', bans: 1, active: 1 }]);
    expect((await get('/api/v1/stats?from=nope')).json().message).toBe(
      'querystring.from: expected epoch milliseconds or an ISO-8601 time',
    );
    expect((await get('/api/v1/stats?from=0&bucket=1s')).statusCode).toBe(400);
    const audit = (await get('/api/v1/audit?ip=203.0.113.7&limit=5')).json();
    expect(audit.events).toMatchObject([{ kind: 'ban', ip: '203.0.113.7', at: new Date(NOW).toISOString() }]);
    expect((await get('/api/v1/audit?limit=0')).statusCode).toBe(400);
  });

  it('answers 500 without details when the store fails on a read', async () => {
    store.failNext = new Error('disk I/O error at /var/lib/lokiban');
    const response = await get('/api/v1/bans');
    expect(response.statusCode).toBe(500);
    expect(response.body).not.toContain('/var/lib');
  });

  it('answers JSON 404 for unknown routes', async () => {
    const response = await get('/api/v1/nothing');
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ statusCode: 404, error: 'Not Found' });
  });
});

describe('health, readiness, metrics and OpenAPI', () => {
  beforeEach(() => setup());

  it('healthz and readyz need no credentials; readyz follows the store', async () => {
    expect((await t.app.inject('/healthz')).json()).toEqual({ status: 'ok' });
    expect((await t.app.inject('/readyz')).statusCode).toBe(200);
    store.pingFails = true;
    const notReady = await t.app.inject('/readyz');
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json()).toEqual({ status: 'unavailable', message: 'store not reachable' });
  });

  it('exports webhook, alert, ban and store metrics', async () => {
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/webhook',
      headers: { ...json, ...bearer(WEBHOOK_TOKEN) },
      payload: alertmanagerBody,
    });
    await t.app.inject({ method: 'POST', url: '/api/v1/webhook', headers: json, payload: alertmanagerBody });
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/webhook',
      headers: { ...json, ...bearer(WEBHOOK_TOKEN) },
      payload: '{',
    });
    const response = await t.app.inject('/metrics');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/plain');
    const text = response.body;
    expect(text).toContain('lokiban_webhook_requests_total{outcome="accepted"} 1');
    expect(text).toContain('lokiban_webhook_requests_total{outcome="unauthorized"} 1');
    expect(text).toContain('lokiban_webhook_requests_total{outcome="bad-request"} 1');
    expect(text).toContain('lokiban_alerts_total{outcome="banned",jail="sshd"} 2');
    expect(text).toContain('lokiban_active_bans{jail="sshd"} 2');
    expect(text).toMatch(/lokiban_store_duration_seconds_count\{operation="recordBatch"\} 1/);
  });

  it('publishes an OpenAPI document of the API routes', async () => {
    const doc = (await t.app.inject('/api/v1/openapi.json')).json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/webhook',
        '/api/v1/bans',
        '/api/v1/bans/{ref}',
        '/api/v1/unban',
        '/api/v1/jails',
      ]),
    );
  });
});
