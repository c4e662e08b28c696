import { formatNetwork, parseNetwork } from '../domain/ip.js';
import { compileExtraction, compileQuery, compileRe2 } from './evaluate.js';
import { parseRuleQuery, type RuleQuery, syntaxErrors } from './query.js';
import type { RenderContext } from './render.js';
import type { LoadedRule } from './rule-test.js';

/** The oldest Loki the shipped rules are checked against, and `rules lint`'s default. */
export const OLDEST_LOKI = '2.7';

/**
 * Loki before 2.9 cannot lex an expression over 1 KiB in which the identifier `ip` appears: the
 * look-ahead that tells the label from the `ip()` function consumes the scanner's buffer
 * (grafana/loki#9132, fixed in 2.9.0; recorded against 2.7.5: 1,024 bytes parse, 1,025 fail).
 */
export const IP_LEXER_LIMIT_BYTES = 1024;

export interface LokiVersion {
  major: number;
  minor: number;
}

export function parseLokiVersion(text: string): LokiVersion {
  const m = /^v?([0-9]+)\.([0-9]+)(?:\.[0-9]+)?$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a Loki version (e.g. 2.7, 2.9.4, 3.0)`);
  const version = { major: Number(m[1]), minor: Number(m[2]) };
  const oldest = parseLokiVersion.oldest;
  if (version.major < oldest.major || (version.major === oldest.major && version.minor < oldest.minor)) {
    throw new Error(`Loki ${text} is older than the oldest supported, ${OLDEST_LOKI}`);
  }
  return version;
}
parseLokiVersion.oldest = { major: 2, minor: 7 } as LokiVersion;

/** The expression without its string literals: what Loki's lexer sees as identifiers and keywords. */
function outsideStrings(expr: string): string {
  return expr.replace(/`[^`]*`|"(?:[^"\\]|\\.)*"/g, '""');
}

/** Limits of the Loki version beyond what its grammar says: the rule would not load at all. */
export function versionProblems(expr: string, version: LokiVersion): string[] {
  const problems: string[] = [];
  const bytes = Buffer.byteLength(expr, 'utf8');
  const before29 = version.major < 2 || (version.major === 2 && version.minor < 9);
  if (before29 && bytes > IP_LEXER_LIMIT_BYTES && /\bip\b/.test(outsideStrings(expr))) {
    problems.push(
      `the expression is ${bytes} bytes; Loki ${version.major}.${version.minor} cannot parse an expression over ${IP_LEXER_LIMIT_BYTES} bytes that uses the identifier "ip" (grafana/loki#9132, fixed in 2.9), and the ruler then drops every rule group of the tenant: split the jail into rules`,
    );
  }
  return problems;
}

export interface LintProblem {
  source: string;
  rule: string;
  problem: string;
}

function checkQuery(query: RuleQuery, names: RenderContext['labels']): string[] {
  const problems: string[] = [];
  const regexpIndex = query.stages.findIndex((s) => s.kind === 'regexp');
  if (regexpIndex === -1) {
    problems.push(`the ${names.ip} label must come from a regexp stage`);
  }
  const regexps = query.stages.filter((s) => s.kind === 'regexp');
  if (regexps.length > 1)
    problems.push('more than one regexp stage: a later one could overwrite the address');
  for (const stage of query.stages) {
    try {
      if (stage.kind === 'regexp') {
        if (!stage.pattern.startsWith('^')) problems.push('the regexp is not anchored with ^');
        if (!compileExtraction(stage.pattern).names.includes(names.ip)) {
          problems.push(`the regexp has no named group "${names.ip}"`);
        }
      } else if (stage.kind === 'line' && (stage.op === '|~' || stage.op === '!~')) {
        compileRe2(stage.value);
      } else if (stage.kind === 'label' && (stage.matcher.op === '=~' || stage.matcher.op === '!~')) {
        compileRe2(stage.matcher.value);
      }
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  const emptyCheck = query.stages.findIndex(
    (s) =>
      s.kind === 'label' && s.matcher.name === names.ip && s.matcher.op === '!=' && s.matcher.value === '',
  );
  if (emptyCheck === -1 || emptyCheck < regexpIndex) {
    problems.push(`no \`| ${names.ip} != ""\` filter after the regexp: lines without an address would count`);
  }
  for (const label of [names.ip, names.jail]) {
    if (!query.groupBy.includes(label)) problems.push(`sum by (...) drops the "${label}" label`);
  }
  return problems;
}

/**
 * Checks rendered rules: Grafana's LogQL grammar parses them without error nodes, the query is in the
 * subset lokiban can test, the selector is not empty, every regexp compiles as RE2, the address comes
 * from an anchored regexp and survives `sum by`, threshold, range and allowlist match the config, and
 * the expression loads in the Loki version named.
 */
export function lintRules(
  rules: LoadedRule[],
  context: RenderContext,
  lokiVersion: LokiVersion = parseLokiVersion(OLDEST_LOKI),
  options: { requireEveryJail?: boolean } = {},
): LintProblem[] {
  const problems: LintProblem[] = [];
  const expected = new Map(context.jails.map((jail) => [jail.definition.name, jail]));
  const seen = new Set<string>();
  for (const rule of rules) {
    const report = (problem: string) => problems.push({ source: rule.source, rule: rule.alert, problem });
    const errors = syntaxErrors(rule.expr);
    if (errors.length > 0) {
      report(`Grafana's LogQL grammar finds syntax errors at offsets ${errors.join(', ')}`);
      continue;
    }
    let query: RuleQuery;
    try {
      query = parseRuleQuery(rule.expr);
      compileQuery(query);
    } catch (error) {
      report((error as Error).message);
      continue;
    }
    for (const problem of checkQuery(query, context.labels)) report(problem);
    for (const problem of versionProblems(rule.expr, lokiVersion)) report(problem);
    const jail = expected.get(rule.jail);
    if (!jail) {
      report(
        context.fromConfig
          ? `jail "${rule.jail}" is not enabled in the configuration`
          : `jail "${rule.jail}" has no definition in the catalogue`,
      );
      continue;
    }
    seen.add(rule.jail);
    const setsJail = query.stages.some(
      (s) => s.kind === 'label_format' && s.name === context.labels.jail && s.value === rule.jail,
    );
    if (!setsJail) report(`the query does not set ${context.labels.jail}="${rule.jail}"`);
    const of = context.fromConfig ? '' : " (the catalogue's; lint with --config FILE for your values)";
    const threshold = query.op === '>=' ? query.threshold : query.threshold + 1;
    if (!Number.isInteger(threshold) || threshold !== jail.maxretry) {
      report(`threshold ${query.op} ${query.threshold} does not match maxretry ${jail.maxretry}${of}`);
    }
    if (query.range !== jail.findtime) {
      report(`range ${query.range}s does not match findtime ${jail.findtime}s${of}`);
    }
    const allowlisted = new Set(
      query.stages.flatMap((s) =>
        s.kind === 'ip' && s.op === '!=' && s.name === context.labels.ip ? [s.value] : [],
      ),
    );
    for (const entry of jail.ignoreip) {
      const network = parseNetwork(entry);
      if (network && !allowlisted.has(formatNetwork(network))) {
        report(`ignoreip ${entry} is not filtered in the query`);
      }
    }
  }
  // Deployed files hold the jails a configuration enabled, not the whole catalogue: without the
  // configuration, a catalogue jail missing from them is not a problem.
  for (const name of options.requireEveryJail === false ? [] : expected.keys()) {
    if (!seen.has(name)) {
      problems.push({ source: '(rendered rules)', rule: name, problem: 'enabled jail has no rendered rule' });
    }
  }
  return problems;
}
