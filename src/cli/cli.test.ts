import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/support/app.js';
import { runCli } from '../../test/support/cli.js';
import { ADMIN_TOKEN, READ_TOKEN, testConfig, testConfigYaml } from '../../test/support/config.js';
import { buildDecisionPolicy } from '../config/policy.js';
import { createStore } from '../store/index.js';
import type { Store } from '../store/port.js';
import { SECRET_NAMES } from './secrets.js';

const dir = mkdtempSync(join(tmpdir(), 'lokiban-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, env);

describe('the command tree', () => {
  it('has every command group, each documented in --help', async () => {
    const help = await run(['--help']);
    for (const command of ['serve', 'config', 'secrets', 'status', 'banned', 'ban', 'unban', 'rules']) {
      expect(help.out).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    }
  });
});

describe('lokiban config check', () => {
  it('prints a summary of a valid file', async () => {
    const file = join(dir, 'good.yaml');
    writeFileSync(file, testConfigYaml());
    const result = await run(['config', 'check', '--config', file]);
    expect(result.code).toBe(0);
    expect(result.out).toContain(`${file}: configuration is valid`);
    expect(result.out).toContain('jails:     3');
    expect(result.out).toContain('sshd: bantime 1h, findtime 10m, maxretry 5, scope all');
    expect(result.out).toContain('postfix-sasl (disabled)');
    expect(result.out).toContain('api:       grafana (read), ops (admin)');
    expect(result.out).not.toContain(ADMIN_TOKEN);
  });

  it('names the YAML path and reason, exit 2', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      testConfigYaml().replace(
        'sshd: { maxretry: 5, findtime: 10m, bantime: 1h }',
        'sshd: { maxretry: 0, bantme: 1h }',
      ),
    );
    const result = await run(['config', 'check', '--config', file]);
    expect(result.code).toBe(2);
    expect(result.err).toContain('jails.sshd: unknown key "bantme"');
    expect(result.err).toContain('jails.sshd.maxretry');
  });

  it('reports a missing file and missing secrets, and reads secrets from --env-file', async () => {
    expect((await run(['config', 'check', '--config', join(dir, 'nope.yaml')])).code).toBe(2);
    const file = join(dir, 'env.yaml');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's own ${ENV} syntax
    writeFileSync(file, testConfigYaml({ webhook: '{ bearer: "${LOKIBAN_WEBHOOK_TOKEN}" }' }));
    const missing = await run(['config', 'check', '--config', file]);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain(
      'auth.webhook.bearer: environment variable LOKIBAN_WEBHOOK_TOKEN is not set',
    );
    const envFile = join(dir, 'check.env');
    writeFileSync(envFile, 'LOKIBAN_WEBHOOK_TOKEN=from-the-env-file-0123456789\n');
    expect((await run(['config', 'check', '--config', file, '--env-file', envFile])).code).toBe(0);
  });
});

describe('configuration errors an operator can act on', () => {
  const check = async (yaml: string, args: string[] = []) => {
    const file = join(dir, `case-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, yaml);
    return { file, ...(await run(['config', 'check', '--config', file, ...args])) };
  };

  it('refuses a jail no definition backs, naming the closest known jail', async () => {
    const result = await check(
      testConfigYaml().replace('sshd: { maxretry: 5, findtime: 10m, bantime: 1h }', 'shd: { maxretry: 5 }'),
    );
    expect(result.code).toBe(2);
    expect(result.err).toContain(
      'jails.shd: unknown jail "shd": no jail definition in the catalogue; did you mean "sshd"?',
    );
    // The responder's own jail for hand-made bans needs no definition.
    const manual = await check(
      testConfigYaml().replace('postfix-sasl:', 'manual: { bantime: 1d }\n  postfix-sasl:'),
    );
    expect(manual.code).toBe(0);
  });

  it('refuses a listen port out of range and echoes the value', async () => {
    const result = await check(
      testConfigYaml().replace('listen: "127.0.0.1:0"', 'listen: "127.0.0.1:99999"'),
    );
    expect(result.code).toBe(2);
    expect(result.err).toContain('server.listen: the port must be 0 to 65535 (got "127.0.0.1:99999")');
  });

  it('echoes bad values back, never secrets', async () => {
    const result = await check(
      testConfigYaml({ webhook: '{ bearer: "short-secret" }' }).replace(
        'sshd: { maxretry: 5, findtime: 10m, bantime: 1h }',
        'sshd: { maxretry: 0, bantime: 1 hour }',
      ),
    );
    expect(result.code).toBe(2);
    expect(result.err).toContain('jails.sshd.maxretry: Too small: expected number to be >=1 (got 0)');
    expect(result.err).toContain('jails.sshd.bantime: invalid duration "1 hour"');
    expect(result.err).toContain('auth.webhook.bearer: secrets must be at least 16 characters');
    expect(result.err).not.toContain('short-secret');
    const inUrl = await check(
      testConfigYaml({ extra: 'audit: { loki: { url: "http://user:hunter2-secret@loki:3100" } }' }),
    );
    expect(inUrl.code).toBe(2);
    expect(inUrl.err).toContain('audit.loki.url: put credentials in basic or bearer');
    expect(inUrl.err).not.toContain('hunter2');
  });

  it('reports a YAML syntax error in one line with line and column', async () => {
    const result = await check('server:\n  listen: "127.0.0.1:9797\njails: [\n');
    expect(result.code).toBe(2);
    expect(result.err.split('\n')).toEqual([
      `error: ${result.file}: the configuration is not valid YAML (line 4, column 1): Missing closing "quote`,
    ]);
  });

  it('prints one error: prefix for rules errors, exit 2', async () => {
    const file = join(dir, 'rules-typo.yaml');
    writeFileSync(file, testConfigYaml().replace('sshd: {', 'shd: {'));
    const result = await run(['rules', 'render', '--config', file]);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/^error: jails without a definition/);
    expect(result.err).toContain('did you mean "sshd"?');
    const noFormat = await run(['rules', 'lint', '--rules', dir]);
    expect(noFormat.code).toBe(2);
    expect(noFormat.err).toBe('error: --rules needs --format loki or --format grafana');
  });

  it('serve refuses a bad --listen before opening anything', async () => {
    const file = join(dir, 'serve.yaml');
    writeFileSync(file, testConfigYaml());
    const result = await run(['serve', '--config', file, '--listen', '0.0.0.0:70000']);
    expect(result.code).toBe(2);
    expect(result.err).toBe(
      'error: --listen: expected HOST:PORT with a port from 0 to 65535 (got "0.0.0.0:70000")',
    );
  });
});

describe('hosts commands', () => {
  it('do not need the webhook and API secrets', async () => {
    const file = join(dir, 'hosts.yaml');
    writeFileSync(
      file,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's own ${ENV} syntax
      testConfigYaml({ webhook: '{ bearer: "${LOKIBAN_WEBHOOK_TOKEN}" }' }).replace(
        /hosts:\n[\s\S]*$/,
        'hosts: []\n',
      ),
    );
    const result = await run(['hosts', 'check', '--config', file]);
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(result.out).toBe('no hosts configured');
    expect((await run(['config', 'check', '--config', file])).code).toBe(2);
  });
});

describe('lokiban secrets init', () => {
  it('creates a 0600 file with three random secrets and never prints them; never overwrites', async () => {
    const file = join(dir, 'secrets', 'lokiban.env');
    const first = await run(['secrets', 'init', '--env-file', file]);
    expect(first.code).toBe(0);
    expect(first.out).toContain(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, 'utf8');
    const values = parseEnv(text);
    for (const name of SECRET_NAMES) {
      expect(values[name]).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(first.out).not.toContain(values[name]);
    }
    expect(new Set(SECRET_NAMES.map((name) => values[name])).size).toBe(3);
    const second = await run(['secrets', 'init', file]);
    expect(second.out).toContain('already exists; left unchanged');
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect((await run(['secrets', 'init'])).code).toBe(2);
  });

  it('runs with `node --` as its shebang says, so Node never reads --env-file itself', () => {
    expect(readFileSync(new URL('./main.ts', import.meta.url), 'utf8').split('\n')[0]).toBe(
      '#!/usr/bin/env -S node --',
    );
    const result = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--',
        'src/cli/main.ts',
        'serve',
        '--config',
        'x.yaml',
        '--env-file',
        join(dir, 'missing.env'),
      ],
      { encoding: 'utf8' },
    );
    expect(result.status).toBe(2);
    expect(result.stderr.trim()).toMatch(/^error: cannot read env file \S+missing\.env: ENOENT/);
  });

  it('works as the installed binary on this Node, positional form', () => {
    const file = join(dir, 'bin', 'lokiban.env');
    const result = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'secrets', 'init', file],
      {
        encoding: 'utf8',
      },
    );
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe(`created ${file} with ${SECRET_NAMES.join(', ')} (mode 0600)`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});

describe('API commands against a listening responder on the SQLite store', () => {
  let t: TestApp;
  let url: string;
  let store: Store;
  beforeAll(async () => {
    const config = testConfig();
    store = await createStore(config.store);
    await store.init();
    const policy = buildDecisionPolicy(config, { localAddresses: [] });
    t = await buildTestApp({ config, store, policy });
    url = await t.app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await t.app.close();
    await store.close();
  });

  const admin = () => ({ LOKIBAN_URL: url, LOKIBAN_TOKEN: ADMIN_TOKEN });

  it('says dry-run (would apply), never applied, for bans completed on the dry-run transport', async () => {
    expect((await run(['ban', '198.51.100.77', '--jail', 'nginx-http-auth'], admin())).code).toBe(0);
    for (const host of ['web1', 'web2'])
      await store.markApplied(await store.claimPending(host, 10, Date.now()), Date.now());
    const banned = await run(['banned'], { LOKIBAN_URL: url, LOKIBAN_TOKEN: READ_TOKEN });
    expect(banned.out).toMatch(/198\.51\.100\.77\s.*\sweb1,web2 dry-run \(would apply\)\s+-$/m);
    const json = JSON.parse((await run(['banned', '--json'], admin())).out);
    const ban = json.bans.find((b: { ip: string }) => b.ip === '198.51.100.77');
    expect(ban.hosts.map((h: { state: string }) => h.state)).toEqual(['dry-run', 'dry-run']);
    expect((await run(['unban', '198.51.100.77'], admin())).code).toBe(0);
  });

  it('bans, lists, shows status and unbans', async () => {
    const ban = await run(
      ['ban', '203.0.113.7', '--jail', 'sshd', '--for', '2h', '--reason', 'seen'],
      admin(),
    );
    expect(ban.code).toBe(0);
    expect(ban.out).toMatch(
      /^203\.0\.113\.7 banned in jail sshd until \S+ \((1h59m5\ds|2h)\) on web1\(pending\),web2\(pending\)$/,
    );

    const banned = await run(['banned'], { LOKIBAN_URL: url, LOKIBAN_TOKEN: READ_TOKEN });
    expect(banned.code).toBe(0);
    const lines = banned.out.split('\n');
    expect(lines[0]).toMatch(/^IP\s+JAIL\s+LEVEL\s+REMAINING\s+EXPIRES\s+SOURCE\s+HOSTS\s+SUMMARY$/);
    expect(lines[1]).toMatch(
      /^203\.0\.113\.7\s+sshd\s+0\s+(1h59m5\ds|2h)\s+\S+Z\s+manual\s+web1\(pending\),web2\(pending\)\s+seen$/,
    );

    const json = await run(['banned', '--json'], admin());
    expect(JSON.parse(json.out).bans[0]).toMatchObject({ ip: '203.0.113.7', jail: 'sshd' });

    const status = await run(['status'], admin());
    expect(status.out).toContain('|- Number of jail:');
    expect(status.out).toMatch(/\|- Jail list:\s+sshd, nginx-http-auth, postfix-sasl/);
    expect(status.out).toMatch(/`- Circuit breaker:\s+closed \(0\/1000 new bans in the last minute\)/);
    expect(status.out).toMatch(/\nsshd\s+yes\s+1\s+1\s+1h\s+10m\s+5/);

    const jail = await run(['status', 'sshd'], admin());
    expect(jail.out).toContain('Status for the jail: sshd');
    expect(jail.out).toMatch(/\|- Currently banned:\s+1/);
    expect(jail.out).toMatch(/`- Banned IP list:\s+203\.0\.113\.7/);

    const unban = await run(['unban', '203.0.113.7', '--url', url, '--token', ADMIN_TOKEN]);
    expect(unban.out).toBe('203.0.113.7 unbanned: lifted 203.0.113.7 in jail sshd');
    const again = await run(['unban', '203.0.113.7'], admin());
    expect(again.out).toBe('203.0.113.7 is not banned');
    expect((await run(['banned'], admin())).out).toBe('no active bans');
  });

  it('says when a ban is left unchanged or extended', async () => {
    const first = await run(['ban', '198.51.100.40', '--jail', 'sshd', '--for', '1d'], admin());
    expect(first.out).toMatch(/^198\.51\.100\.40 banned in jail sshd until \S+ \(/);
    const shorter = await run(['ban', '198.51.100.40', '--jail', 'sshd', '--for', '1h'], admin());
    expect(shorter.code).toBe(0);
    const until = /until (\S+)/.exec(first.out)![1];
    expect(shorter.out).toMatch(
      new RegExp(
        `^198\\.51\\.100\\.40 unchanged, banned in jail sshd until ${until} \\(.*the active ban already lasts at least as long$`,
      ),
    );
    const longer = await run(['ban', '198.51.100.40', '--jail', 'sshd', '--for', '2d'], admin());
    expect(longer.out).toMatch(/^198\.51\.100\.40 ban extended in jail sshd until \S+ \((1d23h59m5\ds|2d)\)/);
    await run(['unban', '198.51.100.40'], admin());
  });

  it('names each lifted ban, covering prefix bans included', async () => {
    await run(['ban', '198.51.100.0/24', '--reason', 'abuse report'], admin());
    await run(['ban', '198.51.100.50', '--jail', 'sshd'], admin());
    const unban = await run(['unban', '198.51.100.50'], admin());
    expect(unban.code).toBe(0);
    expect(unban.out.split('\n').sort()).toEqual([
      '198.51.100.50 unbanned: lifted 198.51.100.0/24 in jail manual (covers 198.51.100.50)',
      '198.51.100.50 unbanned: lifted 198.51.100.50 in jail sshd',
    ]);
  });

  it('refuses an unknown jail, shows summaries and says how many bans it left out', async () => {
    const read = { LOKIBAN_URL: url, LOKIBAN_TOKEN: READ_TOKEN };
    const nosuch = await run(['banned', '--jail', 'shd'], read);
    expect(nosuch.code).toBe(2);
    expect(nosuch.err).toBe(
      'error: unknown jail "shd"; did you mean "sshd"? (jails: sshd, nginx-http-auth, postfix-sasl, manual)',
    );
    await run(['ban', '192.0.2.77', '--jail', 'nginx-http-auth', '--reason', 'credential stuffing'], admin());
    await run(['ban', '192.0.2.78', '--jail', 'nginx-http-auth'], admin());
    const all = await run(['banned', '--jail', 'nginx-http-auth'], read);
    expect(all.out).toMatch(/\n192\.0\.2\.77 .*\scredential stuffing$/m);
    expect(all.out).not.toContain('not shown');
    const page = await run(['banned', '--jail', 'nginx-http-auth', '--limit', '1'], read);
    expect(page.code).toBe(0);
    expect(page.out.split('\n')).toHaveLength(3);
    expect(page.out).toMatch(/\n1 more active ban not shown \(1 of 2; --limit N shows up to 100000/);
    const json = JSON.parse(
      (await run(['banned', '--jail', 'nginx-http-auth', '--limit', '1', '--json'], read)).out,
    );
    expect(json).toMatchObject({ total: 2, omitted: 1 });
    expect((await run(['banned', '--limit', '0'], read)).code).toBe(2);
    await run(['unban', '192.0.2.77'], admin());
    await run(['unban', '192.0.2.78'], admin());
  });

  it('explains auth failures and unreachable responders', async () => {
    const read = await run(['ban', '203.0.113.8'], { LOKIBAN_URL: url, LOKIBAN_TOKEN: READ_TOKEN });
    expect(read.code).toBe(1);
    expect(read.err).toContain('HTTP 403');
    expect(read.err).toContain('needs an admin token');
    const none = await run(['banned'], { LOKIBAN_URL: url });
    expect(none.err).toContain('no API token');
    const wrong = await run(['banned'], { LOKIBAN_URL: url, LOKIBAN_TOKEN: 'nope-0123456789abcdef' });
    expect(wrong.err).toContain('HTTP 401');
    // A port that was free a moment ago: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const down = await run(['banned'], {
      LOKIBAN_URL: `http://127.0.0.1:${port}`,
      LOKIBAN_TOKEN: READ_TOKEN,
    });
    expect(down.code).toBe(1);
    expect(down.err).toContain(`cannot reach lokiban at http://127.0.0.1:${port}: ECONNREFUSED`);
  });

  it('shows why the responder refuses a ban', async () => {
    const refused = await run(['ban', '127.0.0.1', '--jail', 'sshd'], admin());
    expect(refused.code).toBe(1);
    expect(refused.err).toBe(
      'error: POST /api/v1/bans failed: HTTP 422: refused (ignored-allowlisted): 127.0.0.1 matches ignoreip 127.0.0.0/8 of jail "sshd"',
    );
  });

  it('validates arguments before calling the API', async () => {
    const bad = await run(['ban', '1.2.3.4; reboot'], admin());
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('"1.2.3.4; reboot" is not an IPv4/IPv6 address or CIDR');
    const duration = await run(['ban', '203.0.113.9', '--for', 'forever'], admin());
    expect(duration.code).toBe(2);
    expect(duration.err).toContain('--for: invalid duration "forever"');
    expect(await store.listBans({ ip: '203.0.113.9' }, Date.now())).toHaveLength(0);
  });
});
