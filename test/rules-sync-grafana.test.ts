import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';
import { type FakeGrafana, startFakeGrafana } from './support/fake-grafana.js';

const dir = mkdtempSync(join(tmpdir(), 'lokiban-sync-grafana-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const EXAMPLE = 'config/lokiban.example.yaml';
const SERVICE_TOKEN = 'glsa_service-account-token-0123';
const WEBHOOK_TOKEN = 'webhook-token-for-grafana-0123456789';

const run = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, env, '');

/** The operator's own tree: a root receiver and a route of theirs that must survive every sync. */
const userTree = () => ({
  receiver: 'ops-email',
  group_by: ['grafana_folder', 'alertname'],
  routes: [{ receiver: 'db-pager', object_matchers: [['team', '=', 'db']] }],
});

let grafana: FakeGrafana;
afterEach(() => grafana.close());

const env = { LOKIBAN_SYNC_TOKEN: SERVICE_TOKEN, LOKIBAN_WEBHOOK_TOKEN: WEBHOOK_TOKEN };
const sync = (config = EXAMPLE, ...extra: string[]) =>
  run(['rules', 'sync', '--target', 'grafana', '--url', grafana.url, '--config', config, ...extra], env);
const writes = () => grafana.requests.filter((r) => r.method !== 'GET');

describe('lokiban rules sync --target grafana', () => {
  it('dry run shows every resource it would create and writes nothing, never the token', async () => {
    grafana = await startFakeGrafana({ token: SERVICE_TOKEN, policy: userTree() });
    const result = await sync(EXAMPLE, '--dry-run');
    expect(result.code).toBe(0);
    expect(result.out).toContain('  + contact point lokiban (create)');
    expect(result.out).toContain('  + notification policy route to lokiban (create)');
    expect(result.out).toContain('  + folder lokiban (uid lokiban) (create)');
    expect(result.out).toContain('  + rule group lokiban-sshd (create)');
    expect(result.out).toContain('7 changes to make; nothing was changed (dry run)');
    expect(result.out).toMatch(/^ {6}\+ +authorization_credentials: \(secret\)$/m);
    expect(result.out).not.toContain(WEBHOOK_TOKEN);
    expect(writes()).toEqual([]);
  });

  it('creates rules, contact point and a child route without replacing the tree; a second run changes nothing', async () => {
    grafana = await startFakeGrafana({ token: SERVICE_TOKEN, policy: userTree() });
    const first = await sync();
    expect(first.err).toBe('');
    expect(first.out).toContain('7 changes made');
    expect(first.out).not.toContain(WEBHOOK_TOKEN);

    const rules = [...grafana.rules.values()];
    expect([...new Set(rules.map((r) => r.ruleGroup))].sort()).toEqual([
      'lokiban-nginx-botsearch',
      'lokiban-nginx-http-auth',
      'lokiban-postfix-sasl',
      'lokiban-sshd',
    ]);
    expect(rules.every((r) => r.folderUID === 'lokiban' && r.orgID === 1 && r.provenance === 'api')).toBe(
      true,
    );
    expect(grafana.intervals.get('lokiban\nlokiban-sshd')).toBe(60);
    const point = grafana.contactPoints.find((p) => p.name === 'lokiban')!;
    expect(point).toMatchObject({ uid: 'lokiban-webhook', type: 'webhook' });
    expect((point.settings as Record<string, unknown>).authorization_credentials).toBe(WEBHOOK_TOKEN);
    const tree = grafana.policy as { receiver: string; routes: Array<{ receiver: string }> };
    expect(tree.receiver).toBe('ops-email');
    expect(tree.routes.map((r) => r.receiver)).toEqual(['lokiban', 'db-pager']);
    expect(grafana.policyProvenance).toBe('');
    expect(grafana.requests.every((r) => r.headers['x-grafana-org-id'] === '1')).toBe(true);

    const count = writes().length;
    const second = await sync();
    expect(second.out).toContain('in sync: nothing to change');
    expect(second.out).toContain('  = rule group lokiban-sshd (unchanged)');
    expect(second.out).toContain('  = contact point lokiban (unchanged)');
    expect(second.out).toContain('  = notification policy route to lokiban (unchanged)');
    expect(writes()).toHaveLength(count);
  });

  it("deletes the groups of jails no longer enabled, leaves the operator's groups and routes alone", async () => {
    grafana = await startFakeGrafana({ token: SERVICE_TOKEN, policy: userTree() });
    await sync();
    grafana.rules.set('own-rule', {
      uid: 'own-rule',
      folderUID: 'lokiban',
      ruleGroup: 'my-group',
      title: 'Mine',
    });
    const fewer = join(dir, 'fewer.yaml');
    writeFileSync(fewer, readFileSync(EXAMPLE, 'utf8').replace(/^ {2}nginx-botsearch: .*\n/m, ''));
    const dry = await sync(fewer, '--dry-run');
    expect(dry.out).toContain('  - rule group lokiban-nginx-botsearch (delete)');
    expect(dry.out).toContain("  rule group my-group (not lokiban's, left alone)");
    const result = await sync(fewer);
    expect(result.code).toBe(0);
    expect([...grafana.rules.values()].map((r) => r.ruleGroup)).not.toContain('lokiban-nginx-botsearch');
    expect(grafana.rules.has('own-rule')).toBe(true);
    const tree = grafana.policy as { routes: Array<{ receiver: string }> };
    expect(tree.routes.map((r) => r.receiver)).toEqual(['lokiban', 'db-pager']);
  });

  it('needs the webhook token in its own environment to create the contact point (exit 2)', async () => {
    grafana = await startFakeGrafana({ token: SERVICE_TOKEN });
    const result = await run(['rules', 'sync', '--target', 'grafana', '--url', grafana.url], {
      LOKIBAN_SYNC_TOKEN: SERVICE_TOKEN,
    });
    expect(result.code).toBe(2);
    expect(result.err).toContain('LOKIBAN_WEBHOOK_TOKEN is not set');
    expect(writes()).toEqual([]);
    // A dry run needs no secret: it sends nothing.
    const dry = await run(['rules', 'sync', '--target', 'grafana', '--url', grafana.url, '--dry-run'], {
      LOKIBAN_SYNC_TOKEN: SERVICE_TOKEN,
    });
    expect(dry.code).toBe(0);
    const envFile = join(dir, 'sync.env');
    writeFileSync(envFile, `LOKIBAN_WEBHOOK_TOKEN=${WEBHOOK_TOKEN}\n`);
    const withFile = await run(
      ['rules', 'sync', '--target', 'grafana', '--url', grafana.url, '--env-file', envFile],
      { LOKIBAN_SYNC_TOKEN: SERVICE_TOKEN },
    );
    expect(withFile.code).toBe(0);
  });

  it('explains a refused token', async () => {
    grafana = await startFakeGrafana({ token: SERVICE_TOKEN });
    const result = await run(['rules', 'sync', '--target', 'grafana', '--url', grafana.url], {
      LOKIBAN_SYNC_TOKEN: 'wrong',
    });
    expect(result.code).toBe(1);
    expect(result.err).toContain('HTTP 401: Unauthorized (check LOKIBAN_SYNC_TOKEN');
  });
});
