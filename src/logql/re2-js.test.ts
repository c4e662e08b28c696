import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileQuery, compileRe2 } from './evaluate.js';
import { parseRuleQuery } from './query.js';
import { translateRe2ToJs } from './re2-js.js';
import { renderLoki } from './render.js';
import { loadJailTest } from './rule-test.js';
import { DEFAULT_TESTS, loadContext, loadRules } from './toolkit.js';

describe('RE2 → V8 translation', () => {
  it("keeps RE2's ASCII meaning of \\s, \\d, \\w and of .", () => {
    const cases: [string, string][] = [
      ['^a\\sb$', 'a\u00a0b'],
      ['^a\\Sb$', 'a\u00a0b'],
      ['^\\d+$', '\u0663'],
      ['^\\w+$', 'é'],
      ['^a.b$', 'a\rb'],
      ['^a.b$', 'a\u2028b'],
      ['^a.b$', 'a\nb'],
      ['^[\\s]+$', ' \t'],
      ['^x.y$', 'x😀y'],
    ];
    for (const [pattern, input] of cases) {
      const v8 = compileRe2(pattern, 'auto');
      const re2 = compileRe2(pattern, 're2js');
      expect(v8.engine, pattern).toBe('v8');
      expect(v8.test(input), `${pattern} on ${JSON.stringify(input)}`).toBe(re2.test(input));
    }
  });

  it('declines what it cannot translate exactly', () => {
    for (const pattern of ['(?i)abc', '[[:alpha:]]+', '\\pL', '\\Qa.b\\E', '\\Aabc\\z', '[]a]', 'a{,2}']) {
      expect(translateRe2ToJs(pattern), pattern).toBeUndefined();
    }
  });

  it('renames Go-style named groups', () => {
    expect(translateRe2ToJs('(?P<ip>[0-9.]+)')?.exec('x 1.2.3.4')?.groups?.ip).toBe('1.2.3.4');
  });

  it('gives the same verdict and address as pure RE2 for every shipped rule on every sample line', () => {
    const context = loadContext({});
    const rules = loadRules(renderLoki(context), 'loki', 'jail');
    const linesOf = new Map(
      readdirSync(DEFAULT_TESTS).map((jail) => [
        jail,
        readdirSync(join(DEFAULT_TESTS, jail)).flatMap((file) =>
          loadJailTest(join(DEFAULT_TESTS, jail, file)).streams.flatMap((s) => s.lines.map((l) => l.line)),
        ),
      ]),
    );
    const mutations = (line: string) => [line, `${line} `, line.replace(/[0-9]/g, '7'), line.slice(0, -3)];
    // Each rule sees its own jail's lines and their mutations, and every seventh line of every other jail
    // so non-matches are compared too; all of them against every rule would grow with the square of the
    // catalogue.
    const others = [...linesOf.values()].flat().filter((_, i) => i % 7 === 0);
    let compared = 0;
    for (const rule of rules) {
      const query = parseRuleQuery(rule.expr);
      const fast = compileQuery(query, 'auto');
      const reference = compileQuery(query, 're2js');
      const stream = Object.fromEntries(query.selector.map((m) => [m.name, m.value]));
      const inputs = [...(linesOf.get(rule.jail) ?? []), ...others].flatMap(mutations);
      for (const line of inputs) {
        expect(fast.explain(line, stream), `${rule.jail}: ${line}`).toEqual(reference.explain(line, stream));
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(5000);
  });
});
