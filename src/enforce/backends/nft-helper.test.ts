import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hostSchema } from '../../config/schema.js';
import type { BanElement } from '../port.js';
import { NFT_HELPER_PATH, NFT_HELPER_VERSION, nftHelperScript } from './nft-helper.js';
import { nftApplyScript, nftablesBackend, nftSetupScript } from './nftables.js';

/** Runs the helper's `validate` mode (the same checks as `apply`, without nft) with sh. */
function validate(stdin: string): { code: number | null; stderr: string } {
  const run = spawnSync('sh', ['-c', nftHelperScript(), 'lokiban-nft', 'validate'], {
    input: stdin,
    encoding: 'utf8',
  });
  return { code: run.status, stderr: run.stderr };
}

const el = (ip: string, timeoutSeconds: number | null): BanElement => ({
  ip,
  family: ip.includes(':') ? 6 : 4,
  jail: 'sshd',
  timeoutSeconds,
});

describe('lokiban-nft helper: line grammar', () => {
  it('accepts everything lokiban writes: setup, adds, deletes, prefixes, long and no timeouts', () => {
    expect(validate(nftSetupScript())).toEqual({ code: 0, stderr: '' });
    const batch = {
      add: [
        el('203.0.113.7', 600),
        el('198.51.100.0/24', 2_147_483_647),
        el('2001:db8::1', null),
        el('2001:db8:1::/64', 100_000_000),
      ],
      remove: [
        { ip: '192.0.2.9', family: 4 as const },
        { ip: '2001:db8:2::/48', family: 6 as const },
      ],
    };
    const script = nftApplyScript(batch);
    expect(script).toContain('24855d3h14m7s');
    expect(validate(script)).toEqual({ code: 0, stderr: '' });
    const many = Array.from({ length: 5_000 }, (_, i) => el(`10.${i >> 8}.${i & 255}.1`, 3_600));
    expect(validate(nftApplyScript({ add: many, remove: [] }))).toEqual({ code: 0, stderr: '' });
  });

  it.each([
    ['flush ruleset', 'not a lokiban statement'],
    ['include "/etc/shadow"', 'not a lokiban statement'],
    ['add rule inet filter input drop', 'not a lokiban statement'],
    ['add element inet filter banned4 { 192.0.2.1 }', 'not a lokiban statement'],
    ['delete table inet lokiban', 'not a lokiban statement'],
    ['add rule inet lokiban input accept', 'not a lokiban statement'],
    ['add chain inet lokiban input { type filter hook input priority -10; policy drop; }', 'not a lokiban'],
    ['add element inet lokiban banned4 { 192.0.2.1 }; flush ruleset', 'not a lokiban statement'],
    ['add element inet lokiban other { 192.0.2.1 }', 'not a lokiban statement'],
    ['add element inet lokiban banned4 { 192.0.2.1 } include "/etc/shadow"', 'not a lokiban statement'],
    ['add element inet lokiban banned4 { 192.0.2.0/24 }', 'bad element for set banned4'],
    ['add element inet lokiban banned4net { 192.0.2.1 }', 'bad element for set banned4net'],
    ['add element inet lokiban banned4 { 2001:db8::1 }', 'bad element for set banned4'],
    ['add element inet lokiban banned6 { 192.0.2.1 }', 'bad element for set banned6'],
    ['add element inet lokiban banned4 { 256.0.0.1 }', 'bad element'],
    ['add element inet lokiban banned4 { 01.2.3.4 }', 'bad element'],
    ['add element inet lokiban banned4net { 192.0.2.0/33 }', 'bad element'],
    ['add element inet lokiban banned6 { 1::2::3 }', 'bad element'],
    ['add element inet lokiban banned6 { 2001:DB8::1 }', 'bad element'],
    ['add element inet lokiban banned6 { ::ffff:192.0.2.1 }', 'bad element'],
    ['add element inet lokiban banned6 { 1:2:3:4:5:6:7:8:9 }', 'bad element'],
    ['add element inet lokiban banned6net { 2001:db8::/129 }', 'bad element'],
    ['add element inet lokiban banned4 { 192.0.2.1 timeout 1s; }', 'bad element'],
    ['add element inet lokiban banned4 { 192.0.2.1 timeout $x }', 'bad element'],
    ['add element inet lokiban banned4 { 192.0.2.1 timeout 1w }', 'bad element'],
    ['add element inet lokiban banned4 { 192.0.2.1 expires 1s }', 'bad element'],
    ['add element inet lokiban banned4 { $addr }', 'bad element'],
    ['delete element inet lokiban banned4 { 192.0.2.1 timeout 1s }', 'bad element'],
    ['add element inet lokiban banned4 { 192.0.2.1\r }', 'bad element'],
  ])('refuses %j, naming the line', (line, why) => {
    const result = validate(`add table inet lokiban\n${line}\n`);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('lokiban-nft: line 2 refused (');
    expect(result.stderr).toContain(why);
  });

  it('refuses unknown modes and sets, and answers its version only when it matches', () => {
    const run = (...args: string[]) =>
      spawnSync('sh', ['-c', nftHelperScript(), 'lokiban-nft', ...args], { encoding: 'utf8' });
    expect(run('list', 'banned4; flush ruleset')).toMatchObject({ status: 2 });
    expect(run('list', 'banned4; flush ruleset').stderr).toContain('not a lokiban set');
    expect(run('apply', 'extra').status).toBe(2);
    expect(run('-f', '-').status).toBe(2);
    expect(run('version', NFT_HELPER_VERSION)).toMatchObject({
      status: 0,
      stdout: `${NFT_HELPER_VERSION}\n`,
    });
    expect(run('version', '0').status).toBe(1);
    expect(run('check', '0')).toMatchObject({ status: 2 });
    expect(run('check', '0').stderr).toContain(
      `helper version ${NFT_HELPER_VERSION} is installed, lokiban expects 0`,
    );
  });

  it('is installed from the shipped file, executable, and named by helper-mode commands only', () => {
    expect(statSync(new URL('../../../host-tools/lokiban-nft', import.meta.url)).mode & 0o777).toBe(0o755);
    const host = hostSchema.parse({ name: 'web1', address: '192.0.2.10', privilege: 'helper' });
    const backend = nftablesBackend(host);
    const [install, setup] = backend.setup();
    expect(install?.unless?.argv).toEqual([NFT_HELPER_PATH, 'version', NFT_HELPER_VERSION]);
    expect(install?.run.argv).toEqual([
      'install',
      '-D',
      '-o',
      'root',
      '-g',
      'root',
      '-m',
      '0755',
      '/dev/stdin',
      NFT_HELPER_PATH,
    ]);
    expect(install?.run.stdin).toBe(nftHelperScript());
    expect(setup?.run).toEqual({ argv: [NFT_HELPER_PATH, 'apply'], stdin: nftSetupScript() });
    expect(backend.list()?.map((c) => c.argv)).toEqual(
      ['banned4', 'banned6', 'banned4net', 'banned6net'].map((set) => [NFT_HELPER_PATH, 'list', set]),
    );
    expect(backend.check()).toEqual([{ argv: [NFT_HELPER_PATH, 'check', NFT_HELPER_VERSION] }]);
    const direct = nftablesBackend(hostSchema.parse({ name: 'web1', address: '192.0.2.10' }));
    expect(direct.setup()).toEqual([{ run: { argv: ['nft', '-f', '-'], stdin: nftSetupScript() } }]);
  });
});
