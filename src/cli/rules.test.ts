import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadCatalogue } from '../logql/catalogue.js';
import { DEFAULT_CATALOGUE } from '../logql/toolkit.js';
import { registerRulesCommands } from './rules.js';

const dir = mkdtempSync(join(tmpdir(), 'lokiban-rules-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  process.exitCode = undefined;
});

async function run(...args: string[]): Promise<{ out: string; err: string; code: number }> {
  let out = '';
  let err = '';
  const program = new Command('lokiban').exitOverride();
  registerRulesCommands(program, { out: (t) => (out += t), err: (t) => (err += t) });
  await program.parseAsync(args, { from: 'user' });
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { out, err, code };
}

describe('lokiban rules', () => {
  it('render --out writes one ruler file per enabled jail and removes renderings that are gone', async () => {
    const out = join(dir, 'loki');
    const all = await run('rules', 'render', '--format', 'loki', '--out', out);
    expect(all.code).toBe(0);
    expect(readdirSync(out)).toContain('dovecot.yaml');
    writeFileSync(join(out, 'operator-own.yaml'), 'groups: []\n');
    await run('rules', 'render', '--config', 'config/lokiban.example.yaml', '--format', 'loki', '--out', out);
    expect(readdirSync(out).sort()).toEqual([
      'nginx-botsearch.yaml',
      'nginx-http-auth.yaml',
      'operator-own.yaml',
      'postfix-sasl.yaml',
      'sshd.yaml',
    ]);
  });

  it('render --check passes on the committed rendering', async () => {
    const result = await run('rules', 'render', '--check');
    expect([result.code, result.out]).toEqual([0, 'the committed rendering is current\n']);
  });

  it('test runs every jail in both formats', async () => {
    const result = await run('rules', 'test');
    expect(result.code).toBe(0);
    // One line per jail and format (Loki ruler files, Grafana provisioning).
    expect(result.out.match(/^ok /gm)).toHaveLength(loadCatalogue(DEFAULT_CATALOGUE).length * 2);
  });

  it('lint --rules accepts files rendered the README way, with or without the config', async () => {
    const out = join(dir, 'readme-way');
    await run('rules', 'render', '--config', 'config/lokiban.example.yaml', '--format', 'loki', '--out', out);
    // The operator's own rules in the same tenant directory are not lokiban's to lint.
    writeFileSync(join(out, 'operator-own.yaml'), 'groups: [{ name: own, rules: [] }]\n');
    const bare = await run('rules', 'lint', '--rules', out, '--format', 'loki');
    expect(bare.err).toBe('');
    // sshd is several rules, one per kind of line; the other three jails one each.
    expect([bare.code, bare.out]).toEqual([0, '8 rules ok\n']);
    const configured = await run(
      'rules',
      'lint',
      '--config',
      'config/lokiban.example.yaml',
      '--rules',
      out,
      '--format',
      'loki',
    );
    expect([configured.code, configured.out]).toEqual([0, '8 rules ok\n']);
    // With the config, a jail it enables but the directory lacks is still reported.
    rmSync(join(out, 'sshd.yaml'));
    const missing = await run(
      'rules',
      'lint',
      '--config',
      'config/lokiban.example.yaml',
      '--rules',
      out,
      '--format',
      'loki',
    );
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('sshd: enabled jail has no rendered rule');
  });

  it('runbook links point at the published docs unless rules.runbookBaseUrl says otherwise', async () => {
    const published = await run('rules', 'render', '--format', 'loki');
    expect(published.out).toContain(
      'runbook_url: https://github.com/lokiban/lokiban/blob/main/docs/jails.md#sshd',
    );
    const config = join(dir, 'runbook.yaml');
    writeFileSync(
      config,
      `${readFileSync('config/lokiban.example.yaml', 'utf8')}\nrules: { runbookBaseUrl: "https://wiki.example.com/lokiban" }\n`,
    );
    const own = await run('rules', 'render', '--config', config, '--format', 'grafana');
    expect(own.out).toContain('runbook_url: https://wiki.example.com/lokiban#sshd');
    writeFileSync(
      config,
      `${readFileSync('config/lokiban.example.yaml', 'utf8')}\nrules: { runbookBaseUrl: "docs/rules.md" }\n`,
    );
    await expect(run('rules', 'render', '--config', config)).rejects.toThrow(/rules\.runbookBaseUrl/);
  });

  it('lint --rules fails on a hand-edited file whose threshold no longer matches maxretry', async () => {
    const out = join(dir, 'edited');
    await run('rules', 'render', '--format', 'loki', '--out', out);
    const file = join(out, 'sshd.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace(') >= 5', ') >= 50'));
    const result = await run('rules', 'lint', '--rules', out, '--format', 'loki');
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/sshd\.yaml: SshdBruteForceFailed: threshold >= 50 does not match maxretry 5/);
  });

  it('lint --loki-version fails an expression too long for that Loki, naming the rule and the limit', async () => {
    const out = join(dir, 'long');
    await run('rules', 'render', '--format', 'loki', '--out', out);
    const file = join(out, 'sshd.yaml');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace('|= `not allowed because`', `|= \`${'x'.repeat(400)}\``),
    );
    const old = await run('rules', 'lint', '--rules', out, '--format', 'loki');
    expect(old.code).toBe(1);
    expect(old.err).toMatch(
      /sshd\.yaml: SshdBruteForceRefused: the expression is \d{4} bytes; Loki 2\.7 cannot parse an expression over 1024 bytes/,
    );
    const current = await run('rules', 'lint', '--rules', out, '--format', 'loki', '--loki-version', '2.9.0');
    expect(current.code).toBe(0);
    await expect(run('rules', 'lint', '--loki-version', '2.6')).rejects.toThrow(
      /older than the oldest supported/,
    );
  });

  it('test fails with a diff when a test expects something else', async () => {
    const tests = join(dir, 'tests');
    const sshd = join(tests, 'sshd');
    mkdirSync(sshd, { recursive: true });
    writeFileSync(
      join(sshd, 'wrong.yaml'),
      [
        'streams:',
        '  - start: 2026-01-01T00:00:00Z',
        '    lines:',
        "      - { line: 'Failed password for root from 203.0.113.7 port 1 ssh2', ip: 203.0.113.8 }",
        'alerts:',
        '  - at: 2026-01-01T00:00:01Z',
        '    firing: [{ ip: 203.0.113.7 }]',
        '',
      ].join('\n'),
    );
    const result = await run('rules', 'test', '--jail', 'sshd', '--format', 'loki', '--tests', tests);
    expect(result.code).toBe(1);
    expect(result.out).toContain('expected ip 203.0.113.8, got ip 203.0.113.7');
    expect(result.out).toContain('  - {ip="203.0.113.7", jail="sshd"}');
  });

  it('test --explain shows per line whether it counted and which address it extracted', async () => {
    const log = join(dir, 'auth.log');
    writeFileSync(
      log,
      [
        'Failed password for root from 203.0.113.7 port 1 ssh2',
        'Accepted publickey for deploy from 192.0.2.1 port 2 ssh2: ED25519 SHA256:x',
        'Failed password for invalid user x from 10.0.0.9 port 1 ssh2 from 192.0.2.200 port 22 ssh2',
        'Failed password for root from 127.0.0.1 port 3 ssh2',
      ].join('\n'),
    );
    const result = await run('rules', 'test', '--jail', 'sshd', '--format', 'loki', '--explain', log);
    const lines = result.out.split('\n');
    expect(lines[0]).toMatch(/^1\tmatch\tip=203\.0\.113\.7\t/);
    expect(lines[1]).toMatch(/^2\tno\t\|~ "Failed /);
    expect(lines[2]).toMatch(/^3\tmatch\tip=192\.0\.2\.200\t/);
    expect(lines[3]).toMatch(/^4\tno\tip != ip\("127\.0\.0\.0\/8"\)\t/);
    expect(result.out).toMatch(/# sshd \(loki:sshd\.yaml, 5 rules\): 4 lines, 2 matched, 2 addresses/);
  });

  it('test --explain --summary reads lines that straddle read chunks exactly once', async () => {
    const log = join(dir, 'big.log');
    const line = (i: number) =>
      `Failed password for invalid user u${i} from 198.51.100.${i % 200} port ${i} ssh2`;
    writeFileSync(log, `${Array.from({ length: 40_000 }, (_, i) => line(i)).join('\n')}\n`);
    const result = await run(
      'rules',
      'test',
      '--jail',
      'sshd',
      '--format',
      'loki',
      '--explain',
      log,
      '--summary',
    );
    expect(result.out).toMatch(/: 40000 lines, 40000 matched, 200 addresses, /);
    expect(result.out).toMatch(/# {3}200\t198\.51\.100\.\d+/);
  });

  it('test --config checks lines but not alert times for jails retuned away from the catalogue', async () => {
    const config = join(dir, 'lokiban.yaml');
    writeFileSync(
      config,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a lokiban.yaml secret reference, left unset on purpose.
      'auth: { webhook: { bearer: "${TOKEN}" } }\njails:\n  sshd: { maxretry: 3 }\n  dovecot: {}\n  exim: {}\n',
    );
    const result = await run('rules', 'test', '--config', config, '--format', 'loki');
    expect(result.code).toBe(0);
    // dovecot takes maxretry 5 from the config's defaults where the catalogue suggests 3.
    expect(result.err.split('\n').filter(Boolean).sort()).toEqual([
      "note dovecot: maxretry/findtime differ from the catalogue's; checking lines, not alert times",
      "note sshd: maxretry/findtime differ from the catalogue's; checking lines, not alert times",
    ]);
    expect(result.out).toMatch(/ok {3}sshd .* 40 lines, 0 evaluations/);
    expect(result.out).toMatch(/ok {3}dovecot .* 18 lines, 0 evaluations/);
    expect(result.out).toMatch(/ok {3}exim .* 17 lines, 1 evaluations/);
  });
});
