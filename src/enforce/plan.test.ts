import { describe, expect, it } from 'vitest';
import { DesiredState, planBatch, planReconcile } from './plan.js';

const now = 1_000_000_000_000;
const at = (seconds: number) => now + seconds * 1000;

const row = (
  ip: string,
  expiresAt: number | null,
  desired: 'present' | 'absent' = 'present',
  jail = 'sshd',
) => ({
  ip,
  jail,
  desired,
  expiresAt,
});

describe('planBatch', () => {
  it('applies each address once, as its rows say, and removes what is absent or expired', () => {
    const { batch, rejected } = planBatch(
      [
        row('203.0.113.7', at(3600)),
        // A lifted ban's row still says present while another jail's ban of the address is active.
        row('203.0.113.7', at(3600), 'present', 'nginx-http-auth'),
        row('198.51.100.1', null),
        row('192.0.2.1', null, 'absent'),
        row('192.0.2.9', at(0.5)),
        row('x', null),
      ],
      undefined,
      now,
      null,
    );
    expect(rejected).toEqual([{ ip: 'x', reason: 'not a valid IP address or CIDR' }]);
    expect(batch.add).toEqual([
      { ip: '203.0.113.7', family: 4, jail: 'sshd', timeoutSeconds: 3600 },
      { ip: '198.51.100.1', family: 4, jail: 'sshd', timeoutSeconds: null },
    ]);
    // An element with less than a second left is removed rather than re-added for nothing.
    expect(batch.remove).toEqual([
      { ip: '192.0.2.1', family: 4 },
      { ip: '192.0.2.9', family: 4 },
    ]);
  });

  it('caps timeouts to what the backend accepts', () => {
    expect(
      planBatch([row('203.0.113.7', at(10_000_000))], undefined, now, 2_147_483).batch.add[0]?.timeoutSeconds,
    ).toBe(2_147_483);
  });

  it('keeps prefixes from overlapping: a wider one replaces narrower ones and lifting it restores them', () => {
    const bans = [
      { ip: '198.51.100.7', jail: 'sshd', expiresAt: at(7200) },
      { ip: '198.51.100.0/24', jail: 'sshd', expiresAt: at(7200) },
      { ip: '198.51.0.0/16', jail: 'sshd', expiresAt: at(600) },
      { ip: '2001:db8::/64', jail: 'sshd', expiresAt: at(600) },
    ];
    const wide = new DesiredState(bans, now);
    // A single address lives in its own set and stays, also inside a banned prefix.
    expect([...wide.byIp.keys()].sort()).toEqual(['198.51.0.0/16', '198.51.100.7', '2001:db8::/64']);
    const { batch } = planBatch([row('198.51.0.0/16', at(600))], wide, now, null);
    expect(batch.add.map((e) => e.ip)).toEqual(['198.51.0.0/16']);
    expect(batch.remove).toEqual([{ ip: '198.51.100.0/24', family: 4 }]);

    const lifted = new DesiredState([bans[0]!, bans[1]!, bans[3]!], now);
    const after = planBatch([row('198.51.0.0/16', null, 'absent')], lifted, now, null);
    expect(after.batch.remove).toEqual([{ ip: '198.51.0.0/16', family: 4 }]);
    expect(after.batch.add.map((e) => [e.ip, e.timeoutSeconds])).toEqual([['198.51.100.0/24', 7200]]);
    // Touching a single address touches nothing else.
    expect(
      planBatch([row('198.51.100.7', at(7200))], undefined, now, null).batch.add.map((e) => e.ip),
    ).toEqual(['198.51.100.7']);
    expect(() => planBatch([row('198.51.0.0/16', null)], undefined, now, null)).toThrow(/desired state/);
  });
});

describe('planReconcile', () => {
  it('adds missing, removes unknown and re-times drifted elements', () => {
    const desired = new DesiredState(
      [
        { ip: '203.0.113.1', jail: 'sshd', expiresAt: at(600) },
        { ip: '203.0.113.2', jail: 'sshd', expiresAt: at(600) },
        { ip: '203.0.113.3', jail: 'sshd', expiresAt: at(3600) },
        { ip: '203.0.113.4', jail: 'sshd', expiresAt: null },
      ],
      now,
    );
    const plan = planReconcile(
      [
        { ip: '203.0.113.2', family: 4, timeoutSeconds: 590 },
        { ip: '203.0.113.3', family: 4, timeoutSeconds: 600 },
        { ip: '203.0.113.4', family: 4, timeoutSeconds: 60 },
        { ip: '192.0.2.200', family: 4, timeoutSeconds: 100 },
      ],
      desired,
      now,
      30,
      null,
    );
    expect(plan).toMatchObject({ added: 1, removed: 1, retimed: 2 });
    expect(plan.batch.add.map((e) => [e.ip, e.timeoutSeconds])).toEqual([
      ['203.0.113.1', 600],
      ['203.0.113.3', 3600],
      ['203.0.113.4', null],
    ]);
    expect(plan.batch.remove).toEqual([{ ip: '192.0.2.200', family: 4 }]);
  });

  it('changes nothing when the host matches', () => {
    const desired = new DesiredState([{ ip: '2001:db8::/64', jail: 'sshd', expiresAt: at(100) }], now);
    const plan = planReconcile(
      [{ ip: '2001:db8::/64', family: 6, timeoutSeconds: 95 }],
      desired,
      now,
      30,
      null,
    );
    expect(plan).toMatchObject({ added: 0, removed: 0, retimed: 0, batch: { add: [], remove: [] } });
  });
});
