import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../config/load.js';
import { loadCatalogue } from './catalogue.js';
import { compileQuery } from './evaluate.js';
import { lintRules } from './lint.js';
import { parseRuleQuery, syntaxErrors } from './query.js';
import { buildRules, jailPipelines, renderGrafana, renderLoki, resolveRenderContext } from './render.js';
import { runTestSuite } from './rule-test.js';
import { DEFAULT_CATALOGUE, DEFAULT_TESTS, loadConfigForRules, loadRules } from './toolkit.js';

const catalogue = loadCatalogue(DEFAULT_CATALOGUE);
const SECRET = 'a-very-long-webhook-secret-0123456789';

function config(extra: string) {
  return parseConfig(`auth:\n  webhook:\n    bearer: "${SECRET}"\n${extra}`);
}

describe('rendering from lokiban.yaml', () => {
  it('renders only the enabled jails the config lists, with its maxretry, findtime, selector and ignoreip', () => {
    const ctx = resolveRenderContext(
      catalogue,
      config(`defaults:
  maxretry: 4
  ignoreip: [10.0.0.0/8, "2001:db8::/32"]
jails:
  sshd: { findtime: 1h, selector: '{unit="ssh.service"}' }
  nginx-botsearch: { maxretry: 2 }
  dovecot: { enabled: false }
`),
    );
    const rules = buildRules(ctx, 'loki');
    expect([...new Set(rules.map((r) => r.jail))]).toEqual(['nginx-botsearch', 'sshd']);
    expect(rules.filter((r) => r.jail === 'sshd').map((r) => r.alert)).toEqual([
      'SshdBruteForceFailed',
      'SshdBruteForcePam',
      'SshdBruteForceRefused',
      'SshdBruteForceClosed',
      'SshdBruteForceRuser',
    ]);
    const sshd = parseRuleQuery(rules[1]!.expr);
    expect(sshd.selector).toEqual([{ name: 'unit', op: '=', value: 'ssh.service' }]);
    expect([sshd.op, sshd.threshold, sshd.range]).toEqual(['>=', 4, 3600]);
    expect(sshd.stages.filter((s) => s.kind === 'ip').map((s) => s.kind === 'ip' && s.value)).toEqual([
      '10.0.0.0/8',
      '2001:db8::/32',
    ]);
    expect(parseRuleQuery(rules[0]!.expr).threshold).toBe(2);
    expect(lintRules(loadRules(renderLoki(ctx), 'loki', 'jail'), ctx)).toEqual([]);
  });

  it('keeps the shipped samples working under a selector override (streams default to its labels)', () => {
    const ctx = resolveRenderContext(
      catalogue,
      config(`jails:\n  sshd: { selector: '{filename="/var/log/auth.log"}' }\n`),
    );
    const { results } = runTestSuite(DEFAULT_TESTS, loadRules(renderLoki(ctx), 'loki', 'jail'));
    expect(results.map((r) => [r.jail, r.failures])).toEqual([['sshd', []]]);
  });

  it('uses the configured label names end to end', () => {
    const ctx = resolveRenderContext(
      catalogue,
      config('labels: { ip: src_ip, jail: lokiban_jail, host: hostname }\njails:\n  sshd: {}\n'),
    );
    const [rule] = buildRules(ctx, 'loki');
    expect(rule!.expr).toContain('(?P<src_ip>');
    expect(rule!.expr).toContain('sum by (src_ip, lokiban_jail, hostname)');
    expect(rule!.labels).toEqual({ lokiban_jail: 'sshd', severity: 'warning' });
    const { results } = runTestSuite(DEFAULT_TESTS, loadRules(renderLoki(ctx), 'loki', 'lokiban_jail'), {
      ip: 'src_ip',
      jail: 'lokiban_jail',
      host: 'hostname',
    });
    expect(results[0]!.failures).toEqual([]);
    expect(lintRules(loadRules(renderLoki(ctx), 'loki', 'lokiban_jail'), ctx)).toEqual([]);
  });

  it('refuses jails without a definition and selectors that are not a bare stream selector', () => {
    expect(() => resolveRenderContext(catalogue, config('jails:\n  nosuchjail: {}\n'))).toThrow(/nosuchjail/);
    const injected = resolveRenderContext(
      catalogue,
      config(`jails:\n  sshd: { selector: '{job="sshd"} |= "x" [1m])) or vector(1' }\n`),
    );
    expect(() => buildRules(injected, 'loki')).toThrow(/not a bare LogQL stream selector/);
    const piped = resolveRenderContext(
      catalogue,
      config(`jails:\n  sshd: { selector: '{job="sshd"} |= "x"' }\n`),
    );
    expect(() => buildRules(piped, 'loki')).toThrow(/not a bare LogQL stream selector/);
    const ok = resolveRenderContext(
      catalogue,
      config(`jails:\n  sshd: { selector: ' {job="sshd", env=~"prod|stage"}' }\n`),
    );
    expect(buildRules(ok, 'loki')[0]!.expr).toContain('{job="sshd", env=~"prod|stage"}');
  });

  it('reads a config whose secrets are not in the environment: rules need none', () => {
    const ctx = resolveRenderContext(catalogue, loadConfigForRules('config/lokiban.example.yaml', {}));
    expect(ctx.jails.map((j) => j.definition.name)).toContain('sshd');
  });
});

describe('jails of several rules', () => {
  const context = resolveRenderContext(loadCatalogue(DEFAULT_CATALOGUE));

  it('render one Loki rule group per jail holding all its rules, each with the jail label', () => {
    const file = parse(renderLoki(context).get('sshd-aggressive.yaml')!) as {
      groups: { name: string; rules: { alert: string; labels: Record<string, string> }[] }[];
    };
    expect(file.groups).toHaveLength(1);
    expect(file.groups[0]!.name).toBe('lokiban-sshd-aggressive');
    expect(file.groups[0]!.rules.map((r) => r.alert)).toEqual([
      'SshdAggressiveFailed',
      'SshdAggressivePam',
      'SshdAggressiveRefused',
      'SshdAggressiveClosed',
      'SshdAggressiveRuser',
      'SshdAggressivePreauth',
      'SshdAggressiveBanner',
      'SshdAggressiveNegotiate',
    ]);
    for (const rule of file.groups[0]!.rules) expect(rule.labels.jail).toBe('sshd-aggressive');
  });

  it('give every Grafana rule a unique uid of at most 40 characters', () => {
    const file = parse(renderGrafana(context).get('alert-rules.yaml')!) as {
      groups: { rules: { uid: string }[] }[];
    };
    const uids = file.groups.flatMap((g) => g.rules.map((r) => r.uid));
    expect(new Set(uids).size).toBe(uids.length);
    for (const uid of uids) expect(uid.length).toBeLessThanOrEqual(40);
    expect(uids).toContain('lokiban-sshd-aggressive-negotiate');
  });
});

describe('Grafana provisioning', () => {
  it('points the contact point at the responder with a bearer token from the environment, never the secret', () => {
    const ctx = resolveRenderContext(
      catalogue,
      config(
        'rules:\n  grafana: { responderUrl: "https://lokiban.internal:9797/api/v1/webhook", tokenEnv: LKB_TOKEN }\njails:\n  sshd: {}\n',
      ),
    );
    const files = renderGrafana(ctx);
    const text = [...files.values()].join('\n');
    expect(text).not.toContain(SECRET);
    const receiver = parse(files.get('contact-points.yaml')!).contactPoints[0].receivers[0];
    expect(receiver).toMatchObject({
      type: 'webhook',
      settings: {
        url: 'https://lokiban.internal:9797/api/v1/webhook',
        authorization_scheme: 'Bearer',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana expands ${VAR} in provisioning files.
        authorization_credentials: '${LKB_TOKEN}',
      },
    });
  });

  it('signs with HMAC when asked, with the timestamp header the responder checks', () => {
    const ctx = resolveRenderContext(
      catalogue,
      config('rules:\n  grafana: { auth: hmac }\njails:\n  sshd: {}\n'),
    );
    const settings = parse(renderGrafana(ctx).get('contact-points.yaml')!).contactPoints[0].receivers[0]
      .settings;
    expect(settings.hmacConfig).toEqual({
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana expands ${VAR} in provisioning files.
      secret: '${LOKIBAN_GRAFANA_HMAC_SECRET}',
      header: 'X-Grafana-Alerting-Signature',
      timestampHeader: 'X-Grafana-Alerting-Timestamp',
    });
    expect(settings.authorization_credentials).toBeUndefined();
  });

  it('routes lokiban alerts grouped by alertname, jail and ip with a short group_wait', () => {
    const ctx = resolveRenderContext(catalogue);
    const policy = parse(renderGrafana(ctx).get('policies.yaml')!).policies[0];
    expect(policy.routes[0]).toMatchObject({
      receiver: 'lokiban',
      group_by: ['alertname', 'jail', 'ip'],
      group_wait: '5s',
    });
  });

  it('queries the Loki datasource instantly over findtime and treats no data as normal', () => {
    const ctx = resolveRenderContext(
      catalogue,
      config('rules:\n  grafana: { datasourceUid: my-loki }\njails:\n  sshd: {}\n'),
    );
    const rule = parse(renderGrafana(ctx).get('alert-rules.yaml')!).groups[0].rules[0];
    expect(rule.data[0]).toMatchObject({
      datasourceUid: 'my-loki',
      queryType: 'instant',
      relativeTimeRange: { from: 600, to: 0 },
    });
    expect(rule.noDataState).toBe('OK');
  });
});

describe('jail log pipelines (for Explore links)', () => {
  const configured = config(`labels: { ip: src }
jails:
  sshd: { selector: '{unit="ssh.service"}' }
  dovecot: { enabled: false }
  manual: {}
`);
  const pipelines = jailPipelines(catalogue, configured);

  it('are what each rule counts, one per rule, for every configured jail with a definition', () => {
    expect(Object.keys(pipelines).sort()).toEqual(['dovecot', 'sshd']);
    const rules = buildRules(resolveRenderContext(catalogue, configured), 'loki').filter(
      (r) => r.jail === 'sshd',
    );
    expect(pipelines.sshd).toHaveLength(rules.length);
    rules.forEach((rule, index) => {
      expect(rule.expr).toContain(`(count_over_time(${pipelines.sshd![index]} [10m]))`);
    });
    for (const pipeline of pipelines.sshd!) expect(pipeline).toMatch(/^\{unit="ssh\.service"\} /);
  });

  it('narrowed to one banned network, parse in Grafana and together keep only its lines', () => {
    const labels = { unit: 'ssh.service' };
    const extract = (line: string) =>
      pipelines.sshd!.map((pipeline) => {
        const query = `${pipeline} | src = ip("203.0.113.0/24")`;
        expect(syntaxErrors(query)).toEqual([]);
        const compiled = compileQuery(
          parseRuleQuery(`sum by (src, jail) (count_over_time(${query} [10m])) >= 1`),
        );
        return compiled.classify(line, labels, 'src');
      });
    expect(extract('Failed password for root from 203.0.113.7 port 22 ssh2')).toContain('203.0.113.7');
    expect(
      extract('Failed password for root from 198.51.100.7 port 22 ssh2').some((v) => typeof v === 'string'),
    ).toBe(false);
  });
});
