import { describe, expect, it } from 'vitest';
import { jailSettings } from '../../test/support/jail.js';
import type { BatchItem } from '../domain/types.js';
import { adoptBurstIdentities, burstFingerprint, coversAlert } from './identity.js';

const jail = jailSettings({ findtime: 600 });
const T = 1_800_000_000_000;

describe('burst identity', () => {
  it('is one fingerprint per (jail, address, host)', () => {
    const a = burstFingerprint('sshd', '203.0.113.7', 'web1');
    expect(a).toMatch(/^burst:[0-9a-f]{24}$/);
    expect(burstFingerprint('sshd', '203.0.113.7', 'web1')).toBe(a);
    expect(
      new Set([
        a,
        burstFingerprint('sshd', '203.0.113.7', 'web2'),
        burstFingerprint('sshd', '203.0.113.7', undefined),
        burstFingerprint('nginx', '203.0.113.7', 'web1'),
        burstFingerprint('sshd', '203.0.113.70', 'web1'),
      ]).size,
    ).toBe(5);
    // Separators keep the parts apart: ("ab", "c") is not ("a", "bc").
    expect(burstFingerprint('ab', 'c', undefined)).not.toBe(burstFingerprint('a', 'bc', undefined));
  });

  it('covers a ruler alert that started inside the episode', () => {
    const ended = { startsAt: T, endedAt: T + 120_000 };
    expect(coversAlert(ended, T - 1, jail)).toBe(false);
    expect(coversAlert(ended, T, jail)).toBe(true);
    expect(coversAlert(ended, T + 119_999, jail)).toBe(true);
    expect(coversAlert(ended, T + 120_000, jail)).toBe(false);
    // Episode still open (or its end not recorded): bounded by findtime.
    const open = { startsAt: T, endedAt: null };
    expect(coversAlert(open, T + 599_999, jail)).toBe(true);
    expect(coversAlert(open, T + 600_000, jail)).toBe(false);
  });

  it('rewrites only covered alerts, in one store call', async () => {
    const calls: unknown[] = [];
    const store = {
      async findBursts(queries: ReadonlyArray<{ fingerprint: string; at: number }>) {
        calls.push(queries);
        return queries.map((q) =>
          q.fingerprint === burstFingerprint('sshd', '203.0.113.7', 'web1')
            ? { startsAt: T, endedAt: null }
            : undefined,
        );
      },
    };
    const alert = (ip: string, startsAt: number, index: number): BatchItem => ({
      kind: 'offence',
      index,
      offence: {
        fingerprint: `am-${index}`,
        startsAt,
        jail: 'sshd',
        ip,
        reportedIp: ip,
        originHost: 'web1',
        source: 'alertmanager',
        labels: {},
        receivedAt: T,
      },
    });
    const items: BatchItem[] = [
      alert('203.0.113.7', T + 5_000, 0),
      alert('198.51.100.1', T + 5_000, 1),
      { kind: 'skip', index: 2, outcome: { index: 2, outcome: 'ignored-no-ip' } },
      alert('203.0.113.7', T + 700_000, 3),
    ];
    const adopted = await adoptBurstIdentities(items, store, { sshd: jail });
    expect(calls).toHaveLength(1);
    expect(adopted[0]).toMatchObject({
      offence: { fingerprint: burstFingerprint('sshd', '203.0.113.7', 'web1'), startsAt: T },
    });
    expect(adopted.slice(1)).toEqual(items.slice(1));
  });
});
