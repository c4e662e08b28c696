import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runCli } from './support/cli.js';
import { type FakeLokiRuler, startFakeLokiRuler } from './support/fake-loki-ruler.js';

const dir = mkdtempSync(join(tmpdir(), 'lokiban-sync-loki-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const EXAMPLE = 'config/lokiban.example.yaml';

const run = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, env, '');

let ruler: FakeLokiRuler;
beforeEach(async () => {
  ruler = await startFakeLokiRuler();
});
afterEach(() => ruler.close());

const writes = () => ruler.requests.filter((r) => r.method !== 'GET');
const sync = (...extra: string[]) =>
  run(['rules', 'sync', '--target', 'loki', '--url', ruler.url, '--config', EXAMPLE, ...extra], {
    LOKIBAN_SYNC_TOKEN: 'sync-token-0123456789',
  });

describe('lokiban rules sync --target loki', () => {
  it('dry run shows the groups it would create as a diff and writes nothing', async () => {
    const result = await sync('--dry-run');
    expect(result.code).toBe(0);
    expect(result.out).toContain(`Loki ruler ${ruler.url}/, namespace lokiban (dry run)`);
    expect(result.out).toContain('  + group lokiban-sshd (create)');
    expect(result.out).toMatch(/^ {6}\+ name: lokiban-sshd$/m);
    expect(result.out).toContain('4 changes to make; nothing was changed (dry run)');
    expect(writes()).toEqual([]);
  });

  it('creates the enabled jails once; a second run changes nothing', async () => {
    const first = await sync();
    expect(first.code).toBe(0);
    expect(first.out).toContain('4 changes made');
    const names = ruler.groups('fake', 'lokiban').map((group) => group.name);
    expect(names.sort()).toEqual([
      'lokiban-nginx-botsearch',
      'lokiban-nginx-http-auth',
      'lokiban-postfix-sasl',
      'lokiban-sshd',
    ]);
    const post = writes()[0]!;
    expect(post.headers['content-type']).toBe('application/yaml');
    expect(post.headers.authorization).toBe('Bearer sync-token-0123456789');
    expect(post.headers['x-scope-orgid']).toBeUndefined();
    // The posted body is one group, as the ruler API takes it (not a file's `groups:` list).
    expect(parse(post.body)).toMatchObject({ name: expect.stringMatching(/^lokiban-/), interval: '1m' });

    const before = writes().length;
    const second = await sync();
    expect(second.out).toContain('in sync: nothing to change');
    expect(second.out).toContain('  = group lokiban-sshd (unchanged)');
    expect(writes()).toHaveLength(before);
  });

  it('updates what changed, deletes only lokiban groups it no longer renders, leaves others alone', async () => {
    ruler.seed('team-a', 'lokiban', [
      { name: 'lokiban-vsftpd', rules: [{ alert: 'Old', expr: 'count_over_time({job="v"}[1m]) > 0' }] },
      { name: 'my-own-group', rules: [{ alert: 'Mine', expr: 'count_over_time({job="m"}[1m]) > 0' }] },
    ]);
    const tenant = ['--tenant', 'team-a'];
    await sync(...tenant);
    const config = join(dir, 'stricter.yaml');
    writeFileSync(
      config,
      readFileSync(EXAMPLE, 'utf8').replace(
        'sshd: { maxretry: 5, findtime: 10m, bantime: 1h }',
        'sshd: { maxretry: 3, findtime: 10m, bantime: 1h }',
      ),
    );
    const writesBefore = writes().length;
    const dry = await run(
      ['rules', 'sync', '--target', 'loki', '--url', ruler.url, '--config', config, '--dry-run', ...tenant],
      {},
    );
    expect(dry.out).toContain('  ~ group lokiban-sshd (update)');
    expect(dry.out).toMatch(/^ {6}- +expr: .*\) >= 5"?\n {6}\+ +expr: .*\) >= 3"?$/m);
    expect(dry.out).toContain('1 change to make');
    expect(writes()).toHaveLength(writesBefore);
    const real = await run(
      ['rules', 'sync', '--target', 'loki', '--url', ruler.url, '--config', config, ...tenant],
      {},
    );
    expect(real.code).toBe(0);
    const groups = ruler.groups('team-a', 'lokiban');
    expect(groups.map((g) => g.name)).toContain('my-own-group');
    expect(groups.map((g) => g.name)).not.toContain('lokiban-vsftpd');
    const sshd = groups.find((g) => g.name === 'lokiban-sshd') as { rules: Array<{ expr: string }> };
    expect(sshd.rules[0]!.expr).toMatch(/\) >= 3$/);
    expect(ruler.requests.every((r) => r.headers['x-scope-orgid'] === 'team-a')).toBe(true);
    expect(ruler.groups('fake', 'lokiban')).toEqual([]);
  });

  it('reports the first sync, in its words, that the ruler refuses', async () => {
    await ruler.close();
    ruler = await startFakeLokiRuler({ localStore: true });
    const local = await sync();
    expect(local.code).toBe(1);
    expect(local.err).toContain(
      'HTTP 500: SetRuleGroup unsupported in rule local store — this ruler reads rule files from disk',
    );
  });

  it('refuses bad arguments before any request', async () => {
    expect((await run(['rules', 'sync', '--target', 'loki', '--url', 'ftp://x'])).code).toBe(2);
    const inUrl = await run(['rules', 'sync', '--target', 'loki', '--url', 'http://u:p@127.0.0.1:1']);
    expect(inUrl.err).toContain('not in the URL');
    const both = await run(['rules', 'sync', '--target', 'loki', '--url', ruler.url], {
      LOKIBAN_SYNC_TOKEN: 't',
      LOKIBAN_SYNC_USER: 'u',
    });
    expect(both.code).toBe(2);
    expect(
      (await run(['rules', 'sync', '--target', 'loki', '--url', ruler.url, '--tenant', 'a|b'])).code,
    ).toBe(2);
    expect(ruler.requests).toEqual([]);
  });
});
