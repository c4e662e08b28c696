import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CliError, type CliIo } from './io.js';
import { buildProgram } from './program.js';

const dir = mkdtempSync(join(tmpdir(), 'lokiban-cli-detect-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function check(yaml: string): Promise<{ out: string; err: string; code: number }> {
  const file = join(dir, 'lokiban.yaml');
  writeFileSync(file, yaml);
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (t) => out.push(t), err: (t) => err.push(t), env: {} };
  let code = 0;
  try {
    await buildProgram(io)
      .exitOverride()
      .parseAsync(['node', 'lokiban', 'config', 'check', '--config', file]);
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    err.push(error.message);
    code = error.exitCode;
  }
  return { out: out.join('\n'), err: err.join('\n'), code };
}

const base = `
auth: { webhook: { bearer: "webhook-token-0123456789" } }
detect: { loki: { url: "http://loki:3100" } }
`;

describe('lokiban config check with detect.loki', () => {
  it('lists the tails the responder will open', async () => {
    const result = await check(`${base}jails: { sshd: {}, nginx-http-auth: {}, recidive: {} }\n`);
    expect(result.code).toBe(0);
    expect(result.out).toContain('detect:    http://loki:3100: 3 jails over 2 tails');
    expect(result.out).toContain('  tail-1: nginx-http-auth, sshd');
    expect(result.out).toContain('  tail-2: recidive');
  });

  it('refuses a selector the tail can never run, naming the jail (exit 2)', async () => {
    const result = await check(`${base}jails: { sshd: { selector: '{job=~".*"}' } }\n`);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/detect\.loki: jail sshd: .*at least one matcher that rejects an empty value/);
  });
});
