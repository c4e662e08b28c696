import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnsafeValueError } from '../src/enforce/command.js';
import { FirewallEnforcer } from '../src/enforce/enforcer.js';
import { HostKeyMismatchError } from '../src/enforce/host-key.js';
import type { BanElement } from '../src/enforce/port.js';
import { dryRunTransport } from '../src/enforce/transports/dry-run.js';
import { sshTransport } from '../src/enforce/transports/ssh.js';
import { createTestHost, type TestHost } from './support/netns.js';
import { startTcpServer, tcpConnects } from './support/tcp.js';

const ssh = () => sshTransport({ connectTimeoutMs: 5000, reconnectMinMs: 50, reconnectMaxMs: 200 });
const el = (ip: string, timeoutSeconds: number | null): BanElement => ({
  ip,
  family: ip.includes(':') ? 6 : 4,
  jail: 'sshd',
  timeoutSeconds,
});

/** Element addresses only: remaining times tick down between two reads. */
const ips = (host: TestHost) =>
  host
    .list()
    .map((e) => e.ip)
    .sort();

describe('nftables over SSH on a namespace host', () => {
  let host: TestHost;
  let enforcer: FirewallEnforcer;
  let server: ChildProcess | undefined;

  beforeAll(async () => {
    host = await createTestHost({ attacker: true, name: 'web1' });
    enforcer = new FirewallEnforcer(ssh(), 10_000);
  });

  afterAll(async () => {
    server?.kill('SIGKILL');
    await enforcer?.close();
    await host?.destroy();
  });

  it('sets up the table, sets and drop chains idempotently', async () => {
    await enforcer.setup(host.config);
    await enforcer.setup(host.config);
    const ruleset = host.nft(['list', 'table', 'inet', 'lokiban']);
    expect(ruleset).toMatch(/set banned4 \{\s+type ipv4_addr\s+flags timeout/);
    expect(ruleset).toMatch(/set banned6net \{\s+type ipv6_addr\s+flags interval,timeout/);
    expect(ruleset).toMatch(/chain forward \{[^}]*ip saddr @banned4 drop/);
    // Re-running setup does not duplicate rules.
    expect(ruleset.match(/ip saddr @banned4 drop/g)).toHaveLength(2);
    expect(ruleset.match(/ip6 saddr @banned6net drop/g)).toHaveLength(2);
  });

  it('bans with the right timeout, extends by replacing, unbans, and unbanning twice is harmless', async () => {
    await enforcer.apply(host.config, { add: [el('203.0.113.7', 600)], remove: [] });
    let found = host.list(4).find((e) => e.ip === '203.0.113.7');
    expect(found?.timeoutSeconds).toBeGreaterThanOrEqual(595);
    expect(found?.timeoutSeconds).toBeLessThanOrEqual(600);

    await enforcer.apply(host.config, { add: [el('203.0.113.7', 7200)], remove: [] });
    found = host.list(4).find((e) => e.ip === '203.0.113.7');
    expect(found?.timeoutSeconds).toBeGreaterThan(7000);
    expect(host.list(4).filter((e) => e.ip === '203.0.113.7')).toHaveLength(1);

    await enforcer.apply(host.config, { add: [], remove: [{ ip: '203.0.113.7', family: 4 }] });
    expect(host.list(4).some((e) => e.ip === '203.0.113.7')).toBe(false);
    await enforcer.apply(host.config, { add: [], remove: [{ ip: '203.0.113.7', family: 4 }] });
  });

  it('after a full read, adds new elements without deletes and still extends and unbans', async () => {
    const seeded = new FirewallEnforcer(ssh(), 10_000);
    await seeded.list(host.config);
    const first = await seeded.apply(host.config, { add: [el('203.0.113.60', 300)], remove: [] });
    expect(first.commands.join('\n')).not.toContain('delete element');
    await seeded.apply(host.config, { add: [el('203.0.113.60', 5000)], remove: [] });
    expect(host.list(4).find((e) => e.ip === '203.0.113.60')?.timeoutSeconds).toBeGreaterThan(4900);
    await seeded.apply(host.config, { add: [], remove: [{ ip: '203.0.113.60', family: 4 }] });
    expect(host.list(4).some((e) => e.ip === '203.0.113.60')).toBe(false);
    // Removing what is known to be gone sends nothing; adding it back is a plain add again.
    expect(
      (await seeded.apply(host.config, { add: [], remove: [{ ip: '203.0.113.60', family: 4 }] })).commands,
    ).toEqual([]);
    await seeded.apply(host.config, { add: [el('203.0.113.60', 100)], remove: [] });
    expect(host.list(4).find((e) => e.ip === '203.0.113.60')?.timeoutSeconds).toBeGreaterThan(90);
    await seeded.apply(host.config, { add: [], remove: [{ ip: '203.0.113.60', family: 4 }] });
    await seeded.close();
  });

  it('handles permanent, IPv6 /64 and overlapping prefix bans', async () => {
    await enforcer.apply(host.config, {
      add: [el('2001:db8:1::/64', 900), el('198.51.100.0/24', 300), el('192.0.2.55', null)],
      remove: [],
    });
    // A wider prefix replaces the narrower one in the same transaction.
    await enforcer.apply(host.config, {
      add: [el('198.51.0.0/16', 600)],
      remove: [{ ip: '198.51.100.0/24', family: 4 }],
    });
    const present = await enforcer.list(host.config);
    expect(present).toContainEqual({ ip: '192.0.2.55', family: 4, timeoutSeconds: null });
    expect(present.find((e) => e.ip === '198.51.0.0/16')?.timeoutSeconds).toBeGreaterThan(590);
    expect(present.some((e) => e.ip === '198.51.100.0/24')).toBe(false);
    expect(present.find((e) => e.ip === '2001:db8:1::/64')?.family).toBe(6);
  });

  it('drops a banned address while another address still connects', async () => {
    const atk = host.attacker!;
    server = await startTcpServer(host.ns, atk.target, 8080);
    expect(tcpConnects(atk.ns, atk.banned, atk.target, 8080)).toBe(true);
    await enforcer.apply(host.config, { add: [el(atk.banned, 600)], remove: [] });
    expect(tcpConnects(atk.ns, atk.banned, atk.target, 8080)).toBe(false);
    expect(tcpConnects(atk.ns, atk.bystander, atk.target, 8080)).toBe(true);
    await enforcer.apply(host.config, { add: [], remove: [{ ip: atk.banned, family: 4 }] });
    expect(tcpConnects(atk.ns, atk.banned, atk.target, 8080)).toBe(true);
  });

  it('lets the kernel expire a ban with nothing of lokiban running', async () => {
    const shortLived = new FirewallEnforcer(ssh(), 10_000);
    await shortLived.apply(host.config, { add: [el('203.0.113.99', 2)], remove: [] });
    await shortLived.close();
    expect(host.list(4).some((e) => e.ip === '203.0.113.99')).toBe(true);
    await new Promise((r) => setTimeout(r, 3000));
    expect(host.list(4).some((e) => e.ip === '203.0.113.99')).toBe(false);
  });

  it('refuses a changed host key, naming the host and both fingerprints', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lkb-enf-key-'));
    try {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'k')]);
      const other = execFileSync('ssh-keygen', ['-lf', join(dir, 'k.pub')], { encoding: 'utf8' }).split(
        ' ',
      )[1]!;
      const wrong = new FirewallEnforcer(ssh(), 10_000);
      const before = ips(host);
      const error = await wrong
        .apply({ ...host.config, hostKey: other }, { add: [el('203.0.113.50', 60)], remove: [] })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HostKeyMismatchError);
      expect((error as Error).message).toContain('"web1"');
      expect((error as Error).message).toContain(other);
      expect((error as Error).message).toContain(host.hostKeyFingerprint);
      expect(ips(host)).toEqual(before);

      // A known_hosts line for the right key is accepted; with no pin at all nothing connects.
      const line = `${host.address} ${readFileSync(`${join(dir, 'k.pub')}`, 'utf8')}`;
      const refused = await new FirewallEnforcer(ssh(), 10_000)
        .apply({ ...host.config, hostKey: line }, { add: [el('203.0.113.50', 60)], remove: [] })
        .catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(HostKeyMismatchError);
      // While backing off, the same transport keeps reporting the mismatch itself.
      const again = await wrong
        .apply({ ...host.config, hostKey: other }, { add: [el('203.0.113.50', 60)], remove: [] })
        .catch((e: unknown) => e);
      expect(again).toBeInstanceOf(HostKeyMismatchError);
      const unpinned = await new FirewallEnforcer(ssh(), 10_000)
        .apply({ ...host.config, hostKey: undefined }, { add: [el('203.0.113.50', 60)], remove: [] })
        .catch((e: unknown) => e);
      expect((unpinned as Error).message).toMatch(/no pinned hostKey/);
      await wrong.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('accepts the right key given as a known_hosts line', async () => {
    const pub = execFileSync('ip', ['netns', 'exec', host.ns, 'ssh-keyscan', '-t', 'ed25519', host.address], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    const pinned = new FirewallEnforcer(ssh(), 10_000);
    const row = await pinned.check({ ...host.config, hostKey: pub });
    await pinned.close();
    expect(row).toMatchObject({ host: 'web1', ok: true });
    expect(row.detail).toMatch(/nftables v1\./);
  });

  it('never lets injection attempts reach a command', async () => {
    const attempts = [
      '1.2.3.4; reboot',
      '$(id)',
      '1.2.3.4\nflush ruleset',
      '1.2.3.4/0',
      `1.2.3.4${'9'.repeat(300)}`,
    ];
    const recorder = dryRunTransport();
    const recording = new FirewallEnforcer(recorder);
    const before = ips(host);
    for (const ip of attempts) {
      await expect(enforcer.apply(host.config, { add: [el(ip, 60)], remove: [] })).rejects.toThrow(
        UnsafeValueError,
      );
      await expect(recording.apply(host.config, { add: [el(ip, 60)], remove: [] })).rejects.toThrow(
        UnsafeValueError,
      );
      await expect(recording.apply(host.config, { add: [], remove: [{ ip, family: 4 }] })).rejects.toThrow(
        UnsafeValueError,
      );
    }
    expect(recorder.records).toEqual([]);
    expect(ips(host)).toEqual(before);
  });
});
