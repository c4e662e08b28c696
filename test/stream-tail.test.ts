import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { type LokiEntry, lokiConnection } from '../src/stream/loki-client.js';
import { LokiTail, type TailEvents } from '../src/stream/tail.js';
import { type LokiDouble, startLokiDouble } from './support/loki-double.js';

const NS_PER_MS = 1_000_000n;
const ns = (ms: number) => (BigInt(ms) * NS_PER_MS).toString();

async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function recorder() {
  const seen: Array<{ entry: LokiEntry; phase: 'backfill' | 'live' }> = [];
  const log = { dropped: 0, reconnects: 0, invalid: [] as string[], errors: [] as string[], connected: 0 };
  const events: TailEvents = {
    entries: (entries, phase) => seen.push(...entries.map((entry) => ({ entry, phase }))),
    dropped: (count) => {
      log.dropped += count;
    },
    reconnect: () => {
      log.reconnects++;
    },
    invalid: (message) => log.invalid.push(message),
    transientError: (message) => log.errors.push(message),
    connected: () => {
      log.connected++;
    },
  };
  return { seen, log, events };
}

function connection(url: string, extra: Record<string, unknown> = {}) {
  const config = parseConfig(
    JSON.stringify({
      auth: { webhook: { bearer: 'webhook-token-0123456789' } },
      jails: {},
      detect: { loki: { url, ...extra } },
    }),
    {},
  );
  return lokiConnection(config.detect!.loki!);
}

describe('LokiTail against the Loki 2.7.5 double', () => {
  let loki: LokiDouble | undefined;
  let tail: LokiTail | undefined;

  afterEach(async () => {
    await tail?.stop();
    await loki?.close();
    tail = undefined;
    loki = undefined;
  });

  function startTail(
    query: string,
    events: TailEvents,
    backfillFrom: number,
    extra = {},
    idleTimeoutMs = 5_000,
  ) {
    tail = new LokiTail({
      idleTimeoutMs,
      name: 'tail-1',
      query,
      jails: ['sshd'],
      connection: connection(loki!.url, extra),
      backfillFrom,
      retryMinMs: 50,
      retryMaxMs: 200,
      events,
    });
    tail.start();
    return tail;
  }

  it('backfills findtime with query_range, then tails from the backfill’s end with the tenant and bearer token', async () => {
    loki = await startLokiDouble({ lineDelayMs: 50 });
    const now = Date.now();
    loki.push([
      { labels: { job: 'sshd' }, ns: ns(now - 700_000), line: 'too old' },
      { labels: { job: 'sshd' }, ns: ns(now - 300_000), line: 'old 1' },
      { labels: { job: 'sshd' }, ns: ns(now - 200_000), line: 'old 2' },
      { labels: { job: 'other' }, ns: ns(now - 200_000), line: 'not selected' },
    ]);
    const { seen, log, events } = recorder();
    startTail('{job="sshd"}', events, now - 600_000, { tenant: 'team-a', auth: { bearer: 'loki-token' } });
    await waitFor('the tail', () => log.connected === 1);
    loki.push([{ labels: { job: 'sshd' }, ns: ns(Date.now()), line: 'live' }]);
    await waitFor('the live line', () => seen.some((s) => s.entry.line === 'live'));

    expect(seen.map((s) => [s.entry.line, s.phase])).toEqual([
      ['old 1', 'backfill'],
      ['old 2', 'backfill'],
      ['live', 'live'],
    ]);
    const query = loki.queries[0]!;
    expect(query.params.get('direction')).toBe('forward');
    expect(query.params.get('start')).toBe(ns(now - 600_000));
    expect(query.headers['x-scope-orgid']).toBe('team-a');
    expect(query.headers.authorization).toBe('Bearer loki-token');
    const request = loki.tails[0]!;
    expect(request.params.get('query')).toBe('{job="sshd"}');
    expect(request.params.get('delay_for')).toBe('0');
    // Always set: without start Loki replays the last hour (tail_05).
    expect(request.params.get('start')).toBe(query.params.get('end'));
    expect(request.headers['x-scope-orgid']).toBe('team-a');
    expect(request.headers.authorization).toBe('Bearer loki-token');
    expect(tail!.status()).toMatchObject({ state: 'connected', connected: true, reconnects: 0 });
  });

  it('sends basic credentials', async () => {
    loki = await startLokiDouble({ lineDelayMs: 50 });
    const { log, events } = recorder();
    startTail('{job="sshd"}', events, Date.now() - 1000, {
      auth: { basic: { username: 'u', password: 'p' } },
    });
    await waitFor('the tail', () => log.connected === 1);
    expect(loki.tails[0]!.headers.authorization).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
  });

  it('after a dropped TCP connection resumes at the last entry: nothing missed, nothing twice', async () => {
    loki = await startLokiDouble({ lineDelayMs: 20 });
    const { seen, log, events } = recorder();
    startTail('{job="sshd"}', events, Date.now() - 1000);
    await waitFor('the tail', () => log.connected === 1);
    const t = Date.now();
    // Two entries share the last timestamp: the resumed tail returns both again, and both are dropped.
    loki.push([
      { labels: { job: 'sshd' }, ns: ns(t), line: 'a' },
      { labels: { job: 'sshd' }, ns: ns(t + 1), line: 'b' },
      { labels: { job: 'sshd' }, ns: ns(t + 1), line: 'c' },
    ]);
    await waitFor('three lines', () => seen.length === 3);
    loki.dropTails();
    // Pushed while disconnected: only the resumed connection can bring these.
    loki.push([
      { labels: { job: 'sshd' }, ns: ns(t + 2), line: 'd' },
      { labels: { job: 'sshd' }, ns: ns(t + 3), line: 'e' },
    ]);
    await waitFor('the reconnect', () => log.connected === 2);
    await waitFor('five lines', () => seen.length >= 5);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(seen.map((s) => s.entry.line)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(log.reconnects).toBe(1);
    // The gap is read with query_range from the last entry, then the tail starts after it.
    expect(loki.queries[1]!.params.get('start')).toBe(ns(t + 1));
    expect(BigInt(loki.tails[1]!.params.get('start')!)).toBeGreaterThanOrEqual(BigInt(ns(t + 1)));
  });

  it('drops a connection that goes silent (Loki pings every second) and resumes without a gap', async () => {
    loki = await startLokiDouble({ lineDelayMs: 20 });
    const { seen, log, events } = recorder();
    startTail('{job="sshd"}', events, Date.now() - 1000, {}, 1_500);
    await waitFor('the tail', () => log.connected === 1);
    loki.stallTails();
    const t = Date.now();
    loki.push([{ labels: { job: 'sshd' }, ns: ns(t), line: 'while silent' }]);
    await waitFor('the reconnect', () => log.connected === 2, 5_000);
    await waitFor('the line', () => seen.some((s) => s.entry.line === 'while silent'));
    expect(seen.filter((s) => s.entry.line === 'while silent')).toHaveLength(1);
    expect(log.errors[0]).toMatch(/^tail closed \(1006/);
  });

  it('counts dropped_entries', async () => {
    loki = await startLokiDouble({ lineDelayMs: 20 });
    const { log, events } = recorder();
    startTail('{job="sshd"}', events, Date.now() - 1000);
    await waitFor('the tail', () => log.connected === 1);
    loki.sendDropped([
      { labels: { job: 'sshd' }, ns: ns(Date.now()), line: '' },
      { labels: { job: 'sshd' }, ns: ns(Date.now()), line: '' },
    ]);
    await waitFor('the dropped count', () => log.dropped === 2);
  });

  it('turns a 1011 parse error into a configuration error and stops', async () => {
    loki = await startLokiDouble();
    const { log, events } = recorder();
    // The backfill would refuse it with a 400 first; start in the future to reach the tail itself.
    startTail('{job="tail1"', events, Date.now() + 60_000);
    await waitFor('the refusal', () => log.invalid.length === 1);
    expect(log.invalid[0]).toBe(
      'Loki refused the query: parse error at line 1, col 13: syntax error: unexpected $end, expecting } or ,',
    );
    expect(tail!.status()).toMatchObject({ state: 'invalid', connected: false });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(loki.tails).toHaveLength(1);
  });

  it('turns a query_range 400 at backfill into a configuration error', async () => {
    loki = await startLokiDouble();
    const { log, events } = recorder();
    startTail('{job=~".*"}', events, Date.now() - 60_000);
    await waitFor('the refusal', () => log.invalid.length === 1);
    expect(log.invalid[0]).toMatch(
      /^Loki refused the query: parse error : queries require at least one regexp/,
    );
    expect(loki.tails).toHaveLength(0);
  });

  it('treats a tail dropped without a close frame, three times in a row, as a refused query', async () => {
    loki = await startLokiDouble();
    const { log, events } = recorder();
    startTail('{job=~".*"}', events, Date.now() + 60_000);
    await waitFor('the refusal', () => log.invalid.length === 1);
    expect(log.invalid[0]).toMatch(/without a close frame 3 times in a row/);
    expect(loki.tails).toHaveLength(3);
  });

  it('retries a 1011 that is not a query error, such as the concurrent tail limit', async () => {
    loki = await startLokiDouble();
    loki.refuseNextTails(2, 'max concurrent tail requests limit exceeded, count > limit (11 > 10)');
    const { log, events } = recorder();
    startTail('{job="sshd"}', events, Date.now() + 60_000);
    await waitFor('the tail', () => log.connected === 3);
    await waitFor('connected state', () => tail!.status().state === 'connected');
    expect(log.invalid).toEqual([]);
    expect(log.reconnects).toBe(2);
  });
});

describe('LokiTail over TLS', () => {
  it('trusts Loki’s certificate through detect.loki.tls.ca, and refuses it without', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lkb-tail-tls-'));
    const key = join(dir, 'loki.key');
    const cert = join(dir, 'loki.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    const loki = await startLokiDouble({
      lineDelayMs: 20,
      tls: { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') },
    });
    const tails: LokiTail[] = [];
    try {
      const trusted = recorder();
      const untrusted = recorder();
      for (const [events, extra] of [
        [trusted.events, { tls: { ca: cert } }],
        [untrusted.events, {}],
      ] as const) {
        const tail = new LokiTail({
          name: 'tail-1',
          query: '{job="sshd"}',
          jails: ['sshd'],
          connection: connection(loki.url, extra),
          backfillFrom: Date.now() - 1000,
          retryMinMs: 50,
          retryMaxMs: 200,
          events,
        });
        tails.push(tail);
        tail.start();
      }
      await waitFor('the trusted tail', () => trusted.log.connected === 1);
      await waitFor('the untrusted failure', () => untrusted.log.errors.length > 0);
      expect(untrusted.log.connected).toBe(0);
      expect(untrusted.log.errors[0]).toMatch(/self[- ]signed certificate/);
    } finally {
      for (const tail of tails) await tail.stop();
      await loki.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
