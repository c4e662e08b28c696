import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostConfig } from '../src/config/schema.js';
import { FirewallEnforcer } from '../src/enforce/enforcer.js';
import type { BanElement } from '../src/enforce/port.js';
import { sshTransport } from '../src/enforce/transports/ssh.js';
import { createTestHost, type TestHost } from './support/netns.js';

const el = (ip: string, timeoutSeconds: number | null): BanElement => ({
  ip,
  family: ip.includes(':') ? 6 : 4,
  jail: 'sshd',
  timeoutSeconds,
});

describe('nftables through the lokiban-nft helper on a namespace host', () => {
  let host: TestHost;
  let config: HostConfig;
  let dir: string;
  let enforcer: FirewallEnforcer;
  const transport = sshTransport({ connectTimeoutMs: 5000, reconnectMinMs: 50, reconnectMaxMs: 200 });

  beforeAll(async () => {
    host = await createTestHost({ name: 'helper1' });
    // The namespace shares this machine's filesystem: the helper goes to a private directory, not /usr/local.
    dir = mkdtempSync('/var/tmp/lkb-nft-helper-');
    config = { ...host.config, privilege: 'helper', helperPath: join(dir, 'libexec', 'lokiban-nft') };
    enforcer = new FirewallEnforcer(transport, 10_000);
  });

  afterAll(async () => {
    await enforcer?.close();
    await host?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const helper = (args: string[], stdin?: string) =>
    transport.run(
      config,
      { argv: [config.helperPath, ...args], ...(stdin === undefined ? {} : { stdin }) },
      10_000,
    );

  it('setup installs the helper root-owned 0755, then creates the table through it; a second setup reinstalls nothing', async () => {
    const first = await enforcer.setup(config);
    expect(first[0]).toContain(`install -D -o root -g root -m 0755 /dev/stdin ${config.helperPath}`);
    const stat = statSync(config.helperPath);
    expect({ uid: stat.uid, mode: stat.mode & 0o7777 }).toEqual({ uid: 0, mode: 0o755 });
    expect(host.nft(['list', 'table', 'inet', 'lokiban'])).toContain('ip saddr @banned4 drop');
    const second = await enforcer.setup(config);
    expect(second).toHaveLength(1);
    expect(second[0]).toContain(`${config.helperPath} apply`);
    expect((await enforcer.check(config)).ok).toBe(true);
  });

  it('bans, extends, lists and unbans through the helper', async () => {
    await enforcer.apply(config, {
      add: [
        el('203.0.113.7', 600),
        el('198.51.100.0/24', 3600),
        el('2001:db8::7', null),
        el('2001:db8:1::/64', 60),
      ],
      remove: [],
    });
    await enforcer.apply(config, { add: [el('203.0.113.7', 7200)], remove: [] });
    const listed = await enforcer.list(config);
    expect(listed.map((e) => e.ip).sort()).toEqual([
      '198.51.100.0/24',
      '2001:db8:1::/64',
      '2001:db8::7',
      '203.0.113.7',
    ]);
    expect(listed.find((e) => e.ip === '203.0.113.7')?.timeoutSeconds).toBeGreaterThan(7000);
    await enforcer.apply(config, {
      add: [],
      remove: [
        { ip: '203.0.113.7', family: 4 },
        { ip: '198.51.100.0/24', family: 4 },
        { ip: '2001:db8:1::/64', family: 6 },
      ],
    });
    expect((await enforcer.list(config)).map((e) => e.ip)).toEqual(['2001:db8::7']);
  });

  it('refuses flush ruleset, include, other tables and other sets, and changes nothing', async () => {
    host.nft(
      ['-f', '-'],
      'add table inet other\nadd chain inet other c\nadd set inet other s { type ipv4_addr; }\n',
    );
    const secret = join(dir, 'secret');
    writeFileSync(secret, 'root-only-secret-value\n', { mode: 0o600 });
    // Only permanent elements are left, so the ruleset text has no ticking timers to compare.
    const before = host.nft(['list', 'ruleset']);
    const attacks = [
      'flush ruleset',
      `include "${secret}"`,
      'delete table inet lokiban',
      'add rule inet other c drop',
      'delete table inet other',
      'add element inet other s { 192.0.2.1 }',
      'add element inet lokiban banned4 { 192.0.2.1 }\nflush ruleset',
      'add element inet lokiban banned4 { 192.0.2.1 }; flush ruleset',
      'add rule inet lokiban input accept',
    ];
    for (const attack of attacks) {
      const result = await helper(['apply'], `${attack}\n`);
      expect(result.code, attack).toBe(2);
      expect(result.stderr, attack).toMatch(/^lokiban-nft: line \d+ refused \(/);
      expect(result.stderr).not.toContain('root-only-secret-value');
    }
    for (const args of [
      ['list', 'other'],
      ['list', 'banned4', 'extra'],
      ['-f', '-'],
      ['list', '../x'],
    ]) {
      const result = await helper(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/^lokiban-nft: /);
    }
    expect(host.nft(['list', 'ruleset'])).toBe(before);
  });

  it("as the forced command of a restricted key, runs lokiban's commands and nothing else", async () => {
    const keys = join(dirname(host.clientKey), 'authorized_keys');
    writeFileSync(
      keys,
      `restrict,command="${config.helperPath} ssh" ${readFileSync(`${host.clientKey}.pub`, 'utf8')}`,
    );
    const forced = sshTransport({ connectTimeoutMs: 5000, reconnectMinMs: 50, reconnectMaxMs: 200 });
    const restricted = new FirewallEnforcer(forced, 10_000);
    try {
      expect(await restricted.setup(config)).toHaveLength(1);
      expect(await restricted.check(config)).toMatchObject({ ok: true });
      await restricted.apply(config, { add: [el('203.0.113.9', 600)], remove: [] });
      expect((await restricted.list(config)).map((e) => e.ip).sort()).toEqual(['2001:db8::7', '203.0.113.9']);
      await restricted.apply(config, { add: [], remove: [{ ip: '203.0.113.9', family: 4 }] });
      const before = host.nft(['list', 'ruleset']);
      for (const argv of [
        ['nft', 'flush', 'ruleset'],
        ['sh', '-c', 'id'],
        [config.helperPath, 'list', 'other'],
      ]) {
        const result = await forced.run(config, { argv }, 10_000);
        expect(result.code, argv.join(' ')).toBe(2);
        expect(result.stderr).toMatch(/^lokiban-nft: refused over ssh/);
      }
      const smuggled = await forced.run(
        config,
        { argv: [config.helperPath, 'apply'], stdin: 'flush ruleset\n' },
        10_000,
      );
      expect(smuggled.code).toBe(2);
      expect(host.nft(['list', 'ruleset'])).toBe(before);
    } finally {
      await restricted.close();
    }
  });
});
