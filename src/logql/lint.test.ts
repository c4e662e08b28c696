import { describe, expect, it } from 'vitest';
import { loadCatalogue } from './catalogue.js';
import { lintRules } from './lint.js';
import { buildRules, resolveRenderContext } from './render.js';
import type { LoadedRule } from './rule-test.js';
import { DEFAULT_CATALOGUE } from './toolkit.js';

const context = resolveRenderContext(loadCatalogue(DEFAULT_CATALOGUE));
const sshd = buildRules(context, 'loki').find((rule) => rule.jail === 'sshd')!;

function lint(expr: string): string[] {
  const rule: LoadedRule = { source: 'x.yaml', alert: 'SshdBruteForce', jail: 'sshd', expr, labels: {} };
  return lintRules([rule], {
    ...context,
    fromConfig: true,
    jails: context.jails.filter((j) => j.definition.name === 'sshd'),
  }).map((p) => p.problem);
}

describe('rules lint', () => {
  it('passes the rendered rule', () => {
    expect(lint(sshd.expr)).toEqual([]);
  });

  it('reports grammar errors found by the LogQL grammar', () => {
    expect(lint(sshd.expr.replace('count_over_time(', 'count_over_time(('))[0]).toMatch(/syntax errors/);
  });

  it('refuses the pattern parser: the address must come from an anchored regexp', () => {
    const expr =
      'sum by (ip, jail, host) (count_over_time({job="sshd"} | pattern `<_> from <ip> port <_>` | ip != "" | label_format jail=`sshd` [10m])) >= 5';
    expect(lint(expr)[0]).toMatch(/only the regexp parser/);
    const unanchored = sshd.expr.replace('regexp `^', 'regexp `');
    expect(lint(unanchored)).toContain('the regexp is not anchored with ^');
  });

  it('refuses regexps RE2 does not accept', () => {
    const lookbehind = sshd.expr.replace('regexp `^', 'regexp `^(?<=x)');
    expect(lint(lookbehind).join('\n')).toMatch(/not a valid RE2 regexp/);
  });

  it('requires ip != "" after the regexp, and sum by keeping ip and jail', () => {
    expect(lint(sshd.expr.replace('| ip != "" ', ''))).toContainEqual(
      expect.stringMatching(/no `\| ip != ""` filter/),
    );
    expect(lint(sshd.expr.replace('sum by (ip, jail, host)', 'sum by (ip, host)'))).toContain(
      'sum by (...) drops the "jail" label',
    );
  });

  it('requires the threshold, the range and the allowlist of the configuration', () => {
    expect(lint(sshd.expr.replace('[10m]', '[5m]'))).toContain('range 300s does not match findtime 600s');
    expect(lint(sshd.expr.replace(') >= 5', ') > 4'))).toEqual([]);
    expect(lint(sshd.expr.replace(') >= 5', ') > 5'))).toContain('threshold > 5 does not match maxretry 5');
    expect(lint(sshd.expr.replace(' | ip != ip("::1")', ''))).toContain(
      'ignoreip ::1 is not filtered in the query',
    );
  });

  it('requires a selector that selects something', () => {
    expect(lint(sshd.expr.replace('{job="sshd"}', '{job=~".*"}')).join('\n')).toMatch(/at least one matcher/);
  });

  it('reports enabled jails without a rendered rule and rules for jails that are not enabled', () => {
    expect(lintRules([], context).map((p) => p.rule)).toContain('sshd');
    const stray: LoadedRule = { source: 'x.yaml', alert: 'X', jail: 'nosuch', expr: sshd.expr, labels: {} };
    expect(lintRules([stray], { ...context, jails: [], fromConfig: true })[0]!.problem).toMatch(
      /not enabled/,
    );
    expect(lintRules([stray], { ...context, jails: [] })[0]!.problem).toBe(
      'jail "nosuch" has no definition in the catalogue',
    );
    // Deployed files without the configuration: the jails present are the ones that were enabled.
    expect(lintRules([], context, undefined, { requireEveryJail: false })).toEqual([]);
  });

  it('says which values it checked against when there is no configuration', () => {
    const rule: LoadedRule = {
      source: 'x.yaml',
      alert: 'SshdBruteForce',
      jail: 'sshd',
      expr: sshd.expr.replace(') >= 5', ') >= 3'),
      labels: {},
    };
    expect(lintRules([rule], context, undefined, { requireEveryJail: false }).map((p) => p.problem)).toEqual([
      "threshold >= 3 does not match maxretry 5 (the catalogue's; lint with --config FILE for your values)",
    ]);
  });
});
