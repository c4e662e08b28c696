import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerHostsCommands } from '../src/cli/hosts.js';
import { CliError } from '../src/cli/io.js';
import { nftHelperScript } from '../src/enforce/backends/nft-helper.js';
import { createTestHost, type TestHost } from './support/netns.js';

async function run(args: string[]): Promise<{ out: string; err: string; code: number }> {
  let out = '';
  let err = '';
  const io = {
    out: (t: string) => {
      out += `${t}\n`;
    },
    err: (t: string) => {
      err += `${t}\n`;
    },
    env: {},
  };
  const program = new Command().exitOverride();
  registerHostsCommands(program, io);
  try {
    await program.parseAsync(['node', 'lokiban', ...args]);
    return { out, err, code: 0 };
  } catch (error) {
    if (error instanceof CliError)
      return { out, err: `${err}error: ${error.message}\n`, code: error.exitCode };
    throw error;
  }
}

describe('lokiban hosts check / setup', () => {
  let host: TestHost;
  let dir: string;
  const configFor = (name: string, hostKey: string) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(
      file,
      JSON.stringify({
        auth: { webhook: { bearer: 'cli-test-token-0123456789' } },
        jails: { sshd: {} },
        transport: 'ssh',
        hosts: [{ ...host.config, match: {}, hostKey }],
      }),
    );
    return file;
  };

  beforeAll(async () => {
    host = await createTestHost({ name: 'edge1' });
    dir = mkdtempSync(join(tmpdir(), 'lkb-enf-cli-'));
  });

  afterAll(async () => {
    await host?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('helper prints the shipped helper script', async () => {
    const result = await run(['hosts', 'helper']);
    expect(result.code).toBe(0);
    expect(result.out).toBe(nftHelperScript());
  });

  it('setup --dry-run prints the exact transaction and changes nothing', async () => {
    const result = await run(['hosts', 'setup', '--dry-run', '-c', configFor('ok', host.hostKeyFingerprint)]);
    expect(result.out).toContain('# edge1 (nftables');
    expect(result.out).toContain("nft -f - <<'EOF'\nadd table inet lokiban\n");
    expect(result.out).toContain('add rule inet lokiban forward ip6 saddr @banned6 drop');
    expect(() => host.nft(['list', 'table', 'inet', 'lokiban'])).toThrow();
  });

  it('check reports a missing table, setup creates it, check is then ok', async () => {
    const config = configFor('ok', host.hostKeyFingerprint);
    const before = await run(['hosts', 'check', '-c', config]);
    expect(before.code).toBe(1);
    expect(before.err).toContain('1 of 1 host failed the check');
    expect(before.out).toMatch(/edge1\s+root@10\.203\.\d+\.2:22\s+nftables\s+FAIL\s+.*hosts setup/);

    const setup = await run(['hosts', 'setup', '-c', config]);
    expect(setup.code).toBe(0);
    expect(setup.out).toContain('add table inet lokiban');
    expect(host.nft(['list', 'table', 'inet', 'lokiban'])).toContain('ip saddr @banned4 drop');

    const after = await run(['hosts', 'check', '-c', config]);
    expect(after.code).toBe(0);
    expect(after.out).toMatch(/edge1\s+.*\s+ok\s+nftables v1\.0\.\d+.*; 0 elements/);
  });

  it('check names both fingerprints when the host key changed', async () => {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'other')]);
    const other = execFileSync('ssh-keygen', ['-lf', join(dir, 'other.pub')], { encoding: 'utf8' }).split(
      ' ',
    )[1]!;
    const result = await run(['hosts', 'check', '-c', configFor('bad', other)]);
    expect(result.code).toBe(1);
    expect(result.out).toContain('FAIL');
    expect(result.out).toContain(other);
    expect(result.out).toContain(host.hostKeyFingerprint);
    const unknown = await run([
      'hosts',
      'check',
      '-c',
      configFor('ok', host.hostKeyFingerprint),
      '--host',
      'nope',
    ]);
    expect(unknown).toMatchObject({ code: 2, err: 'error: unknown host: nope\n' });
  });
});
