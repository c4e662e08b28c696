import { describe, expect, it } from 'vitest';
import { hostSchema } from '../../config/schema.js';
import { UnsafeValueError } from '../command.js';
import type { BanElement } from '../port.js';
import { firewalldBackend } from './firewalld.js';
import { ipsetBackend, ipsetRestoreScript, parseIpsetSave } from './ipset.js';
import { nftApplyScript, nftablesBackend, nftTimeout, parseNftListSet } from './nftables.js';
import { renderTemplate, templateBackend } from './template.js';

const el = (ip: string, timeoutSeconds: number | null, jail = 'sshd'): BanElement => ({
  ip,
  family: ip.includes(':') ? 6 : 4,
  jail,
  timeoutSeconds,
});

describe('nftables backend', () => {
  it('writes long timeouts in units nft parses (it refuses a field of more than 8 digits)', () => {
    expect(nftTimeout(600)).toBe('600s');
    expect(nftTimeout(99_999_999)).toBe('99999999s');
    expect(nftTimeout(100_000_000)).toBe('1157d9h46m40s');
    expect(nftTimeout(2_147_483_647)).toBe('24855d3h14m7s');
    expect(nftTimeout(86_400 * 2000)).toBe('2000d');
    const script = nftApplyScript({ add: [el('203.0.113.7', 2_147_483_647)], remove: [] });
    expect(script).toContain('203.0.113.7 timeout 24855d3h14m7s');
  });

  it('replaces elements idempotently when the host state is unknown', () => {
    const script = nftApplyScript({ add: [el('203.0.113.7', 600), el('2001:db8::1', null)], remove: [] });
    expect(script).toContain('add table inet lokiban');
    expect(script).toContain('add element inet lokiban banned4 { 203.0.113.7 timeout 1s }');
    expect(script).toContain('delete element inet lokiban banned4 { 203.0.113.7 }');
    expect(script).toContain('add element inet lokiban banned4 { 203.0.113.7 timeout 600s }');
    // permanent: no timeout
    expect(script).toMatch(/add element inet lokiban banned6 \{ 2001:db8::1 \}\n/);
    expect(script).toContain('add set inet lokiban banned4 { type ipv4_addr; flags timeout; }');
    expect(script).toContain('add set inet lokiban banned6net { type ipv6_addr; flags interval, timeout; }');
    expect(script).toContain('add rule inet lokiban forward ip saddr @banned4net drop');
    const lines = script.split('\n');
    expect(lines.indexOf('delete element inet lokiban banned4 { 203.0.113.7 }')).toBeLessThan(
      lines.indexOf('add element inet lokiban banned4 { 203.0.113.7 timeout 600s }'),
    );
  });

  it('leaves the setup statements out when asked, and sends nothing for an empty batch', () => {
    const script = nftApplyScript({ add: [el('203.0.113.7', 60)], remove: [] }, undefined, {
      ensureSetup: false,
    });
    expect(script).not.toContain('add table');
    expect(script.split('\n')[0]).toBe('add element inet lokiban banned4 { 203.0.113.7 timeout 1s }');
    expect(nftablesBackend().apply({ add: [], remove: [] }, undefined, { ensureSetup: false })).toEqual([]);
  });

  it('adds known-absent addresses without the delete, and skips removing them', () => {
    const script = nftApplyScript(
      { add: [el('203.0.113.7', 60), el('203.0.113.8', 60)], remove: [{ ip: '203.0.113.9', family: 4 }] },
      undefined,
      { ensureSetup: false, knownAbsent: (ip) => ip !== '203.0.113.8' },
    );
    expect(script).toBe(
      [
        'add element inet lokiban banned4 { 203.0.113.8 timeout 1s }',
        'delete element inet lokiban banned4 { 203.0.113.8 }',
        'add element inet lokiban banned4 { 203.0.113.7 timeout 60s, 203.0.113.8 timeout 60s }',
        '',
      ].join('\n'),
    );
  });

  it('writes prefixes into the interval sets with plain deletes of what is present', () => {
    const backend = nftablesBackend();
    const batch = { add: [el('10.0.0.0/16', 300)], remove: [{ ip: '10.0.0.0/24', family: 4 as const }] };
    expect(backend.needsPresent(batch)).toBe(true);
    expect(backend.needsPresent({ add: [el('10.0.0.1', 300)], remove: [] })).toBe(false);
    expect(backend.listForApply?.().map((c) => c.argv.at(-1))).toEqual(['banned4net', 'banned6net']);
    const script = nftApplyScript(batch, [{ ip: '10.0.0.0/24', family: 4, timeoutSeconds: 20 }]);
    expect(script).toContain('delete element inet lokiban banned4net { 10.0.0.0/24 }');
    expect(script).not.toContain('timeout 1s');
    expect(script).not.toContain('delete element inet lokiban banned4net { 10.0.0.0/16 }');
    expect(script).toContain('add element inet lokiban banned4net { 10.0.0.0/16 timeout 300s }');
    expect(script).not.toMatch(/element inet lokiban banned4 /);
  });

  it('refuses anything but canonical addresses, whole seconds and safe jails', () => {
    const bad: BanElement[] = [
      el('1.2.3.4; reboot', 60),
      el('$(id)', 60),
      el('1.2.3.4\nflush ruleset', 60),
      el('1.2.3.4/0', 60),
      el('01.2.3.4', 60),
      el('10.0.0.1/8', 60),
      el(`1.2.3.4${'0'.repeat(200)}`, 60),
      el('1.2.3.4', 1.5),
      el('1.2.3.4', 0),
      el('1.2.3.4', 60, 'ssh d'),
      { ip: '1.2.3.4', family: 6, jail: 'sshd', timeoutSeconds: 60 },
    ];
    for (const element of bad) {
      expect(() => nftApplyScript({ add: [element], remove: [] })).toThrow(UnsafeValueError);
    }
    expect(() =>
      nftApplyScript({ add: [], remove: [{ ip: '1.2.3.4 }; flush ruleset; {', family: 4 }] }),
    ).toThrow(UnsafeValueError);
  });

  it('parses nft -j list set output, remaining time first', () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6' } },
        {
          set: {
            family: 'inet',
            name: 'banned4',
            type: 'ipv4_addr',
            elem: [
              { elem: { val: '1.2.3.4', timeout: 200, expires: 162 } },
              '5.6.7.8',
              { elem: { val: { prefix: { addr: '10.0.0.0', len: 24 } }, timeout: 50, expires: 12 } },
              { prefix: { addr: '10.9.0.0', len: 16 } },
            ],
          },
        },
      ],
    });
    expect(parseNftListSet(json)).toEqual([
      { ip: '1.2.3.4', family: 4, timeoutSeconds: 162 },
      { ip: '5.6.7.8', family: 4, timeoutSeconds: null },
      { ip: '10.0.0.0/24', family: 4, timeoutSeconds: 12 },
      { ip: '10.9.0.0/16', family: 4, timeoutSeconds: null },
    ]);
    expect(parseNftListSet('{"nftables":[{"set":{"type":"ipv6_addr"}}]}')).toEqual([]);
    expect(() => parseNftListSet('{"nftables":[]}')).toThrow(/no set/);
  });
});

describe('ipset backend', () => {
  it('writes an ipset restore batch with per-entry timeouts, capped to what ipset accepts', () => {
    const script = ipsetRestoreScript({
      add: [el('203.0.113.7', 600), el('2001:db8::/64', null), el('198.51.100.1', 10_000_000)],
      remove: [{ ip: '192.0.2.1', family: 4 }],
    });
    expect(script).toBe(
      [
        'del lokiban4 192.0.2.1',
        'add lokiban4 203.0.113.7 timeout 600',
        'add lokiban6 2001:db8::/64 timeout 0',
        'add lokiban4 198.51.100.1 timeout 2147483',
        '',
      ].join('\n'),
    );
    const commands = ipsetBackend().apply({ add: [el('203.0.113.7', 600)], remove: [] });
    expect(commands[0]?.argv).toEqual(['ipset', 'restore', '-exist']);
    expect(ipsetBackend().apply({ add: [], remove: [] })).toEqual([]);
  });

  it('sets up INPUT always and DOCKER-USER only when it exists, each only once', () => {
    const steps = ipsetBackend().setup();
    const docker = steps.find((s) => s.run.argv.includes('DOCKER-USER') && s.run.argv[0] === 'iptables');
    expect(docker?.when?.argv).toEqual(['iptables', '-w', '-n', '-L', 'DOCKER-USER']);
    expect(docker?.unless?.argv).toContain('-C');
    const input = steps.find((s) => s.run.argv.includes('INPUT') && s.run.argv[0] === 'ip6tables');
    expect(input?.run.argv).toEqual([
      'ip6tables',
      '-w',
      '-I',
      'INPUT',
      '1',
      '-m',
      'set',
      '--match-set',
      'lokiban6',
      'src',
      '-j',
      'DROP',
    ]);
  });

  it('parses ipset save', () => {
    expect(
      parseIpsetSave(
        'create lokiban4 hash:net family inet hashsize 1024 maxelem 1048576 timeout 0\nadd lokiban4 1.2.3.4 timeout 588\nadd lokiban4 10.0.0.0/24 timeout 0\n',
      ),
    ).toEqual([
      { ip: '1.2.3.4', family: 4, timeoutSeconds: 588 },
      { ip: '10.0.0.0/24', family: 4, timeoutSeconds: null },
    ]);
  });
});

describe('firewalld backend', () => {
  it('adds and removes runtime ipset entries, one argv per element', () => {
    const commands = firewalldBackend().apply({
      add: [el('203.0.113.7', 600)],
      remove: [{ ip: '2001:db8::/64', family: 6 }],
    });
    expect(commands.map((c) => c.argv)).toEqual([
      ['firewall-cmd', '-q', '--ipset=lokiban6', '--remove-entry=2001:db8::/64'],
      ['firewall-cmd', '-q', '--ipset=lokiban4', '--add-entry=203.0.113.7'],
    ]);
    expect(() => firewalldBackend().apply({ add: [el('1.2.3.4 --reload', 1)], remove: [] })).toThrow(
      UnsafeValueError,
    );
    const setup = firewalldBackend().setup();
    expect(setup.at(-1)?.run.argv).toEqual(['firewall-cmd', '-q', '--reload']);
    expect(
      setup.some((s) =>
        s.run.argv.includes('--add-rich-rule=rule family="ipv4" source ipset="lokiban4" drop'),
      ),
    ).toBe(true);
    expect(firewalldBackend().parseList(['1.2.3.4\n10.0.0.0/24\n', '2001:db8::/64\n'])).toEqual([
      { ip: '1.2.3.4', family: 4, timeoutSeconds: null },
      { ip: '10.0.0.0/24', family: 4, timeoutSeconds: null },
      { ip: '2001:db8::/64', family: 6, timeoutSeconds: null },
    ]);
  });
});

describe('template backend', () => {
  const host = hostSchema.parse({
    name: 'edge',
    address: '192.0.2.10',
    backend: 'template',
    template: {
      add: ['/usr/local/bin/ban', '--ip={ip}', '{family}', '{seconds}', '{jail}'],
      remove: ['/usr/local/bin/unban', '{ip}'],
    },
  });

  it('places validated values into single argv elements', () => {
    const commands = templateBackend(host).apply({
      add: [el('203.0.113.7', 600), el('2001:db8::/64', null, 'nginx-http-auth')],
      remove: [{ ip: '192.0.2.1', family: 4 }],
    });
    expect(commands.map((c) => c.argv)).toEqual([
      ['/usr/local/bin/unban', '192.0.2.1'],
      ['/usr/local/bin/ban', '--ip=203.0.113.7', '4', '600', 'sshd'],
      ['/usr/local/bin/ban', '--ip=2001:db8::/64', '6', '0', 'nginx-http-auth'],
    ]);
    expect(commands.every((c) => c.stdin === undefined)).toBe(true);
  });

  it('never lets an injection attempt through', () => {
    for (const ip of ['1.2.3.4; reboot', '$(id)', '1.2.3.4\n5.6.7.8', '`id`', '1.2.3.4/0']) {
      expect(() => templateBackend(host).apply({ add: [el(ip, 60)], remove: [] })).toThrow(UnsafeValueError);
    }
    expect(() => templateBackend(host).apply({ add: [el('1.2.3.4', 60, '$(reboot)')], remove: [] })).toThrow(
      UnsafeValueError,
    );
  });

  it('rejects unknown placeholders at config time', () => {
    const result = hostSchema.safeParse({
      name: 'edge',
      address: '192.0.2.10',
      backend: 'template',
      template: { add: ['ban', '{ip}', '{cmd}'], remove: ['unban', '{ip}'] },
    });
    expect(result.success).toBe(false);
    expect(renderTemplate(['x{ip}y'], { ip: '1.2.3.4' })).toEqual(['x1.2.3.4y']);
    expect(() => renderTemplate(['{seconds}'], {})).toThrow(/no value/);
  });
});
