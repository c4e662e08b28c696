import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from './load.js';

const env = {
  LOKIBAN_WEBHOOK_TOKEN: 'webhook-token-0123456789',
  LOKIBAN_API_TOKEN: 'api-token-0123456789abcdef',
  LOKIBAN_ADMIN_TOKEN: 'admin-token-0123456789abcdef',
};

const minimal = `
auth:
  webhook: { bearer: "\${LOKIBAN_WEBHOOK_TOKEN}" }
jails:
  sshd: { maxretry: 3, bantime: 1h }
`;

function problemsOf(text: string, environment: NodeJS.ProcessEnv = env): string[] {
  try {
    parseConfig(text, environment);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected the configuration to be rejected');
}

describe('parseConfig', () => {
  it('refuses @revoked and @cert-authority known_hosts lines as host key pins', () => {
    const key = 'AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
    const hosts = (line: string) =>
      `${minimal}transport: ssh\nhosts:\n  - { name: web1, address: 192.0.2.10, hostKey: "${line}" }\n`;
    expect(problemsOf(hosts(`@revoked web1 ssh-ed25519 ${key}`))).toEqual([
      `hosts[0].hostKey: a @revoked known_hosts line names a key that must never be trusted; pin the host’s current key (got "@revoked web1 ssh-ed25519 ${key.slice(0, 51)}...")`,
    ]);
    expect(problemsOf(hosts(`@cert-authority *.example ssh-ed25519 ${key}`))).toEqual([
      `hosts[0].hostKey: a @cert-authority line names a CA, and host certificates are not supported; pin the host’s own key (got "@cert-authority *.example ssh-ed25519 ${key.slice(0, 39)}...")`,
    ]);
    expect(parseConfig(hosts(`web1 ssh-ed25519 ${key}`), env).hosts[0]!.hostKey).toMatch(/^web1 /);
  });

  it('refuses ban lengths no firewall can hold, naming the path and the maximum', () => {
    const jails = (body: string) => `${minimal.replace(/jails:[\s\S]*/, '')}jails:\n  sshd: ${body}\n`;
    expect(problemsOf(jails('{ bantime: 4000w }'))).toEqual([
      'jails.sshd.bantime: 4000w is longer than the maximum ban of 2147483647s (3550w5d3h14m7s, about 68 years); use -1 for a permanent ban',
    ]);
    expect(problemsOf(jails('{ increment: { maxtime: 4000w } }'))[0]).toMatch(
      /^jails\.sshd\.increment\.maxtime: 4000w is longer than the maximum ban/,
    );
    expect(problemsOf(jails('{ bantime: 1w, increment: { maxtime: 0 } }'))).toEqual([
      'jails.sshd.increment: escalation can reach 634178764800s, longer than the maximum ban of 2147483647s: set a smaller increment.maxtime (or multipliers, factor, rndtime)',
    ]);
    expect(
      problemsOf(jails('{ bantime: 1d, increment: { maxtime: 0, multipliers: [1, 2, 100000] } }')),
    ).toEqual([
      'jails.sshd.increment: escalation can reach 8640000000s, longer than the maximum ban of 2147483647s: set a smaller increment.maxtime (or multipliers, factor, rndtime)',
    ]);
    expect(problemsOf(`${minimal}defaults: { increment: { maxtime: 3550w, rndtime: 1w } }\n`)).toEqual([
      'defaults.increment: escalation can reach 2147644800s, longer than the maximum ban of 2147483647s: set a smaller increment.maxtime (or multipliers, factor, rndtime)',
      // The jail sets its own bantime but inherits the increment: its effective settings are named too.
      'jails.sshd.increment: escalation can reach 2147644800s, longer than the maximum ban of 2147483647s: set a smaller increment.maxtime (or multipliers, factor, rndtime)',
    ]);
    // The maximum itself and permanent bans are fine.
    const ok = parseConfig(jails('{ bantime: -1 }'), env);
    expect(ok.jails.sshd!.bantime).toBe(-1);
    expect(
      parseConfig(jails('{ bantime: 2147483647, increment: { enabled: false } }'), env).jails.sshd!.bantime,
    ).toBe(2_147_483_647);
  });

  it('loads the bundled example with safe defaults', () => {
    const config = loadConfig(new URL('../../config/lokiban.example.yaml', import.meta.url).pathname, env);
    expect(config.server.listen).toBe('127.0.0.1:9797');
    expect(config.transport).toBe('dry-run');
    expect(config.store).toEqual({ sqlite: './data/lokiban.db' });
    expect(config.jails.sshd).toMatchObject({ maxretry: 5, findtime: 600, bantime: 3600, ipv6prefix: 64 });
    expect(config.jails.sshd!.increment).toMatchObject({
      enabled: true,
      maxtime: 604_800,
      memory: 2_592_000,
    });
  });

  it('merges defaults into each jail', () => {
    const config = parseConfig(minimal, env);
    expect(config.jails.sshd).toEqual({
      name: 'sshd',
      enabled: true,
      bantime: 3600,
      findtime: 600,
      maxretry: 3,
      ignoreip: ['127.0.0.0/8', '::1'],
      scope: 'all',
      ipv6prefix: 128,
      increment: {
        enabled: true,
        factor: 1,
        multipliers: [],
        maxtime: 604_800,
        rndtime: 0,
        overalljails: false,
        memory: 2_592_000,
      },
    });
  });

  it('lets a jail override single increment settings', () => {
    const tuned = parseConfig(
      minimal.replace('bantime: 1h }', 'bantime: 1h, increment: { factor: 2 } }'),
      env,
    );
    expect(tuned.jails.sshd!.increment).toMatchObject({ factor: 2, maxtime: 604_800 });
  });

  it('names the path of an unknown key, so typos cannot silently disable protection', () => {
    expect(problemsOf(minimal.replace('maxretry', 'maxretries'))).toEqual([
      'jails.sshd: unknown key "maxretries"',
    ]);
    expect(problemsOf(`${minimal}\nbogus: 1\n`)).toEqual(['(root): unknown key "bogus"']);
  });

  it('names the path and reason of invalid values', () => {
    expect(problemsOf(minimal.replace('bantime: 1h', 'bantime: 1y'))[0]).toMatch(
      /^jails\.sshd\.bantime: invalid duration/,
    );
    expect(problemsOf(`${minimal}defaults: { ignoreip: [10.0.0.0/8, nope] }\n`)).toEqual([
      'defaults.ignoreip[1]: not an IP address or CIDR (got "nope")',
    ]);
    expect(problemsOf(minimal.replace('sshd:', 'SSH D:'))[0]).toMatch(/^jails\.SSH D/);
  });

  it('refuses an open webhook and short secrets', () => {
    expect(problemsOf('auth: { webhook: {} }\njails: {}\n')[0]).toMatch(
      /at least one of bearer, basic or grafanaHmac/,
    );
    expect(problemsOf(minimal, { LOKIBAN_WEBHOOK_TOKEN: 'short' })[0]).toMatch(
      /auth\.webhook\.bearer: secrets must be at least 16/,
    );
  });

  it('reports missing environment variables with their path', () => {
    expect(problemsOf(minimal, {})).toEqual([
      'auth.webhook.bearer: environment variable LOKIBAN_WEBHOOK_TOKEN is not set (nor LOKIBAN_WEBHOOK_TOKEN_FILE)',
    ]);
  });

  it('reads NAME_FILE secrets and never lets a secret change the YAML structure', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lokiban-config-'));
    const file = join(dir, 'token');
    writeFileSync(file, 'x: "injected"\n  }: {\n');
    const config = parseConfig(minimal, { LOKIBAN_WEBHOOK_TOKEN_FILE: file });
    expect(config.auth.webhook.bearer).toBe(readFileSync(file, 'utf8').trim());
  });

  it('rejects scopes naming unknown hosts and duplicate host names', () => {
    const hosts = `hosts:\n  - { name: web1, address: 192.0.2.10 }\n  - { name: web1, address: 192.0.2.11 }\n`;
    const problems = problemsOf(`${minimal}${hosts}defaults: { scope: [web1, db9] }\n`);
    expect(problems).toContain('hosts[1].name: duplicate host "web1"');
    expect(problems).toContain('defaults.scope[1]: unknown host "db9"');
  });

  it('rejects invalid YAML and duplicate keys', () => {
    const yamlError = (text: string) => {
      try {
        parseConfig(text, env);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as ConfigError).problems).toEqual([]);
        return (error as Error).message;
      }
      throw new Error('expected the configuration to be rejected');
    };
    expect(yamlError('jails: [\n')).toMatch(/^the configuration is not valid YAML \(line 2, column 1\): /);
    expect(yamlError(`${minimal}jails: {}\n`)).toBe(
      'the configuration is not valid YAML (line 6, column 1): Map keys must be unique',
    );
  });
});
