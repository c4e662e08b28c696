import { describe, expect, it } from 'vitest';
import { loadCatalogue } from './catalogue.js';
import { IP_LEXER_LIMIT_BYTES, lintRules, parseLokiVersion, versionProblems } from './lint.js';
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

  it('refuses an expression Loki 2.7 and 2.8 cannot parse, naming the size and the limit', () => {
    // Padding inside the line filter keeps the query valid and only makes it longer.
    const long = sshd.expr.replace('|~ `', `|~ \`${'x'.repeat(IP_LEXER_LIMIT_BYTES - sshd.expr.length)}|`);
    expect(Buffer.byteLength(long)).toBe(IP_LEXER_LIMIT_BYTES + 1);
    const atLimit = sshd.expr.replace(
      '|~ `',
      `|~ \`${'x'.repeat(IP_LEXER_LIMIT_BYTES - sshd.expr.length - 1)}|`,
    );
    expect(Buffer.byteLength(atLimit)).toBe(IP_LEXER_LIMIT_BYTES);
    expect(lint(atLimit)).toEqual([]);
    const problems = lint(long);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^the expression is 1025 bytes; Loki 2\.7 cannot parse an expression over 1024 bytes that uses the identifier "ip" \(grafana\/loki#9132/,
    );
    expect(versionProblems(long, parseLokiVersion('2.8.4'))).toHaveLength(1);
    expect(versionProblems(long, parseLokiVersion('2.9'))).toEqual([]);
    expect(versionProblems(long, parseLokiVersion('v3.1.0'))).toEqual([]);
    // The bug is the `ip` identifier's look-ahead: a long query without one parses.
    expect(versionProblems(long.replaceAll('ip', 'src'), parseLokiVersion('2.7'))).toEqual([]);
    // An `ip` inside a string literal is not an identifier.
    expect(versionProblems('`ip` '.repeat(300), parseLokiVersion('2.7'))).toEqual([]);
  });

  it('knows the supported Loki versions', () => {
    expect(parseLokiVersion('2.7')).toEqual({ major: 2, minor: 7 });
    expect(() => parseLokiVersion('2.6.7')).toThrow(/older than the oldest supported, 2\.7/);
    expect(() => parseLokiVersion('latest')).toThrow(/not a Loki version/);
  });

  it('every shipped expression loads in the oldest supported Loki', () => {
    for (const rule of buildRules(context, 'loki')) {
      expect(versionProblems(rule.expr, parseLokiVersion('2.7')), rule.alert).toEqual([]);
    }
  });
});
