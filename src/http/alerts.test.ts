import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { testConfig } from '../../test/support/config.js';
import { LABEL_VALUE_MAX, SAMPLE_MAX, SUMMARY_MAX } from '../domain/offence-limits.js';
import type { BatchItem } from '../domain/types.js';
import { fingerprintOf, toBatchItems } from './alerts.js';
import { senderOf, webhookPayloadSchema } from './webhook-schema.js';

const config = testConfig();
const fixture = (name: string) =>
  webhookPayloadSchema.parse(
    JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')),
  );
const receivedAt = Date.parse('2026-11-27T08:01:00Z');

function firing(labels: Record<string, string>, annotations: Record<string, string> = {}) {
  return webhookPayloadSchema.parse({
    version: '4',
    status: 'firing',
    alerts: [
      {
        status: 'firing',
        labels,
        annotations,
        startsAt: '2026-11-27T08:00:00Z',
        endsAt: '0001-01-01T00:00:00Z',
      },
    ],
  });
}

function only(labels: Record<string, string>, annotations?: Record<string, string>): BatchItem {
  const items = toBatchItems(firing(labels, annotations), config, { source: 'alertmanager', receivedAt });
  expect(items).toHaveLength(1);
  return items[0]!;
}

describe('toBatchItems on real-shaped payloads', () => {
  it('turns an Alertmanager 0.25 group into offences and a resolved record', () => {
    const payload = fixture('alertmanager-0.25.json');
    expect(senderOf(payload)).toBe('alertmanager');
    const items = toBatchItems(payload, config, { source: 'alertmanager', receivedAt });
    expect(items.map((item) => item.kind)).toEqual(['offence', 'offence', 'resolved']);
    const first = items[0]!;
    if (first.kind !== 'offence') throw new Error('expected an offence');
    expect(first.offence).toMatchObject({
      fingerprint: '5b4c3f2a1e0d9c8b',
      startsAt: Date.parse('2026-11-27T08:00:00.123Z'),
      jail: 'sshd',
      ip: '203.0.113.7',
      reportedIp: '203.0.113.7',
      originHost: 'web1',
      source: 'alertmanager',
      summary: '5 failed SSH logins from 203.0.113.7 on web1',
      sample: 'Failed password for root from 203.0.113.7 port 4242 ssh2',
      receivedAt,
    });
    const second = items[1]!;
    if (second.kind !== 'offence') throw new Error('expected an offence');
    // defaults.ipv6prefix is 64 in the test config: the ban covers the attacker's /64.
    expect(second.offence.ip).toBe('2001:db8:1:2::/64');
    expect(second.offence.reportedIp).toBe('2001:db8:1:2:3:4:5:6');
    expect(items[2]).toEqual({
      kind: 'resolved',
      index: 2,
      fingerprint: '1f2e3d4c5b6a7980',
      startsAt: Date.parse('2026-11-27T07:40:00Z'),
      endsAt: Date.parse('2026-11-27T07:55:00Z'),
      ip: '198.51.100.9',
      jail: 'sshd',
    });
  });

  it('reads a Grafana contact-point payload, canonicalises mapped IPv4 and ignores NoData', () => {
    const payload = fixture('grafana-webhook.json');
    expect(senderOf(payload)).toBe('grafana');
    const items = toBatchItems(payload, config, { source: 'grafana', receivedAt });
    const first = items[0]!;
    if (first.kind !== 'offence') throw new Error('expected an offence');
    expect(first.offence).toMatchObject({
      ip: '192.0.2.44',
      jail: 'nginx-http-auth',
      originHost: 'edge-1',
      source: 'grafana',
      startsAt: Date.parse('2026-11-27T07:51:03.157Z'),
    });
    expect(items[1]).toEqual({
      kind: 'skip',
      index: 1,
      outcome: {
        index: 1,
        outcome: 'ignored-no-ip',
        fingerprint: '9d8c7b6a5f4e3d2c',
        reason: 'alert has no "ip" label',
      },
    });
  });

  it("ignores Grafana's test notification", () => {
    const items = toBatchItems(fixture('grafana-test-alert.json'), config, { source: 'grafana', receivedAt });
    expect(items).toHaveLength(1);
    expect(items[0]!.kind === 'skip' && items[0]!.outcome.outcome).toBe('ignored-no-ip');
  });
});

describe('label validation', () => {
  const hostile = [
    '1.2.3.4; reboot',
    '$(id)',
    '`id`',
    '1.2.3.4\nflush ruleset',
    '1.2.3.4/0',
    '0.0.0.0/0',
    '1.2.3.4 ',
    ' 1.2.3.4',
    '1.2.3',
    '01.2.3.4',
    '0x7f.0.0.1',
    '1.2.3.4.5',
    '256.1.1.1',
    'fe80::1%eth0',
    'example.com',
    '1.2.3.4'.repeat(40),
    `${'1'.repeat(70)}`,
  ];
  it.each(hostile)('rejects %j as ignored-invalid-ip without echoing it', (value) => {
    const item = only({ ip: value, jail: 'sshd' });
    expect(item.kind).toBe('skip');
    if (item.kind !== 'skip') return;
    expect(item.outcome.outcome).toBe('ignored-invalid-ip');
    expect(JSON.stringify(item.outcome)).not.toContain(value.trim());
  });

  it('reports a missing or empty ip label as ignored-no-ip', () => {
    const cases: Record<string, string>[] = [
      { jail: 'sshd' },
      { ip: '', jail: 'sshd' },
      { ip: '  ', jail: 'sshd' },
    ];
    for (const labels of cases) {
      const item = only(labels);
      expect(item.kind === 'skip' && item.outcome.outcome).toBe('ignored-no-ip');
    }
  });

  it('names the configured label in reasons', () => {
    const custom = { ...config, labels: { ip: 'src_ip', jail: 'lokiban_jail', host: 'node' } };
    const payload = firing({ ip: '203.0.113.7', jail: 'sshd' });
    const [item] = toBatchItems(payload, custom, { source: 'alertmanager', receivedAt });
    expect(item).toMatchObject({ kind: 'skip', outcome: { reason: 'alert has no "src_ip" label' } });
    const renamed = firing({ src_ip: '203.0.113.7', lokiban_jail: 'sshd', node: 'web2' });
    const [offence] = toBatchItems(renamed, custom, { source: 'alertmanager', receivedAt });
    expect(offence).toMatchObject({ kind: 'offence', offence: { ip: '203.0.113.7', originHost: 'web2' } });
  });

  it('skips unknown, missing, prototype-named and disabled jails', () => {
    expect(only({ ip: '203.0.113.7', jail: 'nope' })).toMatchObject({
      outcome: {
        outcome: 'ignored-unknown-jail',
        ip: '203.0.113.7',
        reason: 'jail "nope" is not configured',
      },
    });
    expect(only({ ip: '203.0.113.7' })).toMatchObject({
      outcome: { outcome: 'ignored-unknown-jail', reason: 'alert has no "jail" label' },
    });
    for (const name of ['__proto__', 'constructor', 'toString']) {
      expect(only({ ip: '203.0.113.7', jail: name })).toMatchObject({
        outcome: { outcome: 'ignored-unknown-jail' },
      });
    }
    expect(only({ ip: '203.0.113.7', jail: 'postfix-sasl' })).toMatchObject({
      outcome: { outcome: 'ignored-jail-disabled', jail: 'postfix-sasl' },
    });
  });

  it('keeps a per-jail ipv6prefix of 128 as the single address', () => {
    const item = only({ ip: '2001:DB8::1', jail: 'nginx-http-auth' });
    expect(item).toMatchObject({
      kind: 'offence',
      offence: { ip: '2001:db8::1', reportedIp: '2001:db8::1' },
    });
  });

  it('drops a host label that is not a plain host name', () => {
    const item = only({ ip: '203.0.113.7', jail: 'sshd', host: 'web1; rm -rf /' });
    expect(item.kind).toBe('offence');
    if (item.kind === 'offence') expect(item.offence.originHost).toBeUndefined();
  });

  it('keeps the rest of a group when one alert carries a huge attacker-chosen label', () => {
    const payload = webhookPayloadSchema.parse({
      version: '4',
      status: 'firing',
      alerts: [
        {
          status: 'firing',
          labels: { ip: '203.0.113.7', jail: 'sshd', user: 'u'.repeat(50_000) },
          startsAt: '2026-11-27T08:00:00Z',
        },
        { status: 'firing', labels: { ip: '203.0.113.8', jail: 'sshd' }, startsAt: '2026-11-27T08:00:00Z' },
      ],
    });
    const items = toBatchItems(payload, config, { source: 'alertmanager', receivedAt });
    expect(items.map((item) => item.kind)).toEqual(['offence', 'offence']);
    if (items[0]!.kind === 'offence') expect(items[0]!.offence.labels.user!.length).toBe(LABEL_VALUE_MAX);
  });

  it('truncates long annotations and labels and strips control characters', () => {
    const item = only(
      { ip: '203.0.113.7', jail: 'sshd', user: 'x'.repeat(5000) },
      { summary: `a\u0007b${'s'.repeat(5000)}`, description: 'd'.repeat(10_000) },
    );
    if (item.kind !== 'offence') throw new Error('expected an offence');
    expect(item.offence.summary!.length).toBe(SUMMARY_MAX);
    expect(item.offence.summary!.startsWith('ab')).toBe(true);
    expect(item.offence.sample!.length).toBe(SAMPLE_MAX);
    expect(item.offence.labels.user!.length).toBe(LABEL_VALUE_MAX);
  });
});

describe('fingerprints', () => {
  it('computes a stable 16-hex fingerprint from sorted labels when the sender gives none', () => {
    const a = only({ ip: '203.0.113.7', jail: 'sshd', host: 'web1' });
    const b = fingerprintOf({ host: 'web1', jail: 'sshd', ip: '203.0.113.7' });
    expect(a.kind === 'offence' && a.offence.fingerprint).toBe(b);
    expect(b).toMatch(/^[0-9a-f]{16}$/);
    expect(fingerprintOf({ a: 'b,c' })).not.toBe(fingerprintOf({ a: 'b', c: '' }));
    expect(fingerprintOf({ ip: '203.0.113.7', jail: 'sshd' })).not.toBe(b);
  });
});

describe('webhook schema', () => {
  it('accepts unknown fields at every level', () => {
    const payload = webhookPayloadSchema.parse({
      version: '4',
      status: 'firing',
      newTopLevel: { x: 1 },
      alerts: [
        {
          status: 'firing',
          labels: {},
          startsAt: '2026-11-27T08:00:00Z',
          somethingNew: true,
        },
      ],
    });
    expect(payload.alerts[0]!.annotations).toEqual({});
  });

  it('names the path of a schema error', () => {
    const result = webhookPayloadSchema.safeParse({
      version: '4',
      status: 'firing',
      alerts: [{ status: 'firing', labels: { ip: 7 }, startsAt: 'yesterday' }],
    });
    expect(result.success).toBe(false);
    const paths = result.error!.issues.map((issue) => issue.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['alerts.0.labels.ip', 'alerts.0.startsAt']));
  });
});
