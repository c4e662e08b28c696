import { RE2JS } from 're2js';
import { contains, parseAddress, parseNetwork } from '../domain/ip.js';
import type { LabelMatcher, RuleQuery, Stage } from './query.js';

/**
 * A mini evaluator for the LogQL subset in `query.ts`, with Loki's semantics:
 * RE2 regexps (Go's dialect, via re2js: no lookaround, no backreferences), label matchers anchored
 * at both ends, line regexps unanchored, `regexp` extraction by leftmost-first search, extracted names
 * that collide with stream labels suffixed `_extracted`, and ranges open at the start `(t-r, t]`
 * (Loki pkg/logql/range_vector.go: "the lower bound of the range is not inclusive").
 */

export type Labels = Readonly<Record<string, string>>;

export interface LogEntry {
  /** Epoch milliseconds. */
  ts: number;
  line: string;
  labels: Labels;
}

export interface Sample {
  labels: Labels;
  value: number;
}

/** Why a line did or did not reach the count, for `--explain`. */
export type LineVerdict =
  | { matched: true; labels: Labels }
  | { matched: false; droppedBy: string; extracted?: Labels };

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export class EvaluationError extends Error {
  override name = 'EvaluationError';
}

/** Compiles with RE2 semantics; the message names the pattern when RE2 refuses it. */
export function compileRe2(pattern: string): RE2JS {
  try {
    return RE2JS.compile(pattern);
  } catch (error) {
    throw new EvaluationError(`not a valid RE2 regexp (${(error as Error).message}): ${pattern}`);
  }
}

type StringTest = (value: string) => boolean;

// Loki turns `a|b|c` of plain literals into substring checks too; the result is the same as the regexp.
const LITERAL_ALTERNATION = /^[A-Za-z0-9 _,;:'"=/<>@#%&-]+(?:\|[A-Za-z0-9 _,;:'"=/<>@#%&-]+)*$/;

function lineRegexpTest(pattern: string): StringTest {
  const re = compileRe2(pattern);
  if (LITERAL_ALTERNATION.test(pattern)) {
    const literals = pattern.split('|');
    return (line) => literals.some((literal) => line.includes(literal));
  }
  return (line) => re.test(line);
}

function matcherTest(matcher: LabelMatcher): StringTest {
  switch (matcher.op) {
    case '=':
      return (value) => value === matcher.value;
    case '!=':
      return (value) => value !== matcher.value;
    case '=~': {
      const re = compileRe2(`^(?:${matcher.value})$`);
      return (value) => re.test(value);
    }
    case '!~': {
      const re = compileRe2(`^(?:${matcher.value})$`);
      return (value) => !re.test(value);
    }
  }
}

interface CompiledRegexp {
  re: RE2JS;
  groups: [name: string, index: number][];
}

/** Mirrors Loki's NewRegexpParser checks: at least one named group, valid and unique label names. */
export function compileExtraction(pattern: string): CompiledRegexp {
  const re = compileRe2(pattern);
  const names = re.namedGroups();
  const groups = Object.entries(names);
  if (groups.length === 0) throw new EvaluationError(`regexp has no named capture group: ${pattern}`);
  for (const [name] of groups) {
    if (!LABEL_NAME.test(name)) throw new EvaluationError(`invalid extracted label name '${name}'`);
  }
  const occurrences = [...pattern.matchAll(/\(\?P?<([^>=!]+)>/g)].map((m) => m[1]!);
  const duplicate = occurrences.find((name, index) => occurrences.indexOf(name) !== index);
  if (duplicate) throw new EvaluationError(`duplicate extracted label name '${duplicate}'`);
  return { re, groups };
}

type StageFn = (line: string, stream: Labels, labels: Record<string, string>) => boolean;

function compileStage(stage: Stage): StageFn {
  switch (stage.kind) {
    case 'line': {
      const { op, value } = stage;
      if (op === '|=') return (line) => line.includes(value);
      if (op === '!=') return (line) => !line.includes(value);
      const test = lineRegexpTest(value);
      return op === '|~' ? (line) => test(line) : (line) => !test(line);
    }
    case 'regexp': {
      const { re, groups } = compileExtraction(stage.pattern);
      return (line, stream, labels) => {
        const m = re.matcher(line);
        if (!m.find()) return true;
        for (const [name, index] of groups) {
          const key = name in stream ? `${name}_extracted` : name;
          labels[key] = m.group(index) ?? '';
        }
        return true;
      };
    }
    case 'label': {
      const test = matcherTest(stage.matcher);
      const { name } = stage.matcher;
      return (_line, _stream, labels) => test(labels[name] ?? '');
    }
    case 'ip': {
      const network = parseNetwork(stage.value);
      if (!network) throw new EvaluationError(`ip("${stage.value}") is not an address or CIDR`);
      const { name, op } = stage;
      return (_line, _stream, labels) => {
        const address = parseAddress(labels[name] ?? '');
        const inside = address !== undefined && contains(network, address);
        return op === '=' ? inside : !inside;
      };
    }
    case 'label_format': {
      const { name, value } = stage;
      return (_line, _stream, labels) => {
        labels[name] = value;
        return true;
      };
    }
  }
}

function describeStage(stage: Stage): string {
  switch (stage.kind) {
    case 'line':
      return `${stage.op} ${JSON.stringify(stage.value)}`;
    case 'regexp':
      return 'regexp';
    case 'label':
      return `${stage.matcher.name} ${stage.matcher.op} ${JSON.stringify(stage.matcher.value)}`;
    case 'ip':
      return `${stage.name} ${stage.op} ip(${JSON.stringify(stage.value)})`;
    case 'label_format':
      return `label_format ${stage.name}`;
  }
}

export interface CompiledQuery {
  readonly query: RuleQuery;
  selects(stream: Labels): boolean;
  /** Runs the pipeline on one line: the series labels it counts toward, or null when dropped. */
  process(line: string, stream: Labels): Labels | null;
  explain(line: string, stream: Labels): LineVerdict;
  /** The instant-query value at `at` (epoch ms), threshold applied: what the ruler would alert on. */
  evaluate(entries: readonly LogEntry[], at: number): Sample[];
}

export function compileQuery(query: RuleQuery): CompiledQuery {
  const selectorTests = query.selector.map((m) => ({ name: m.name, test: matcherTest(m) }));
  if (!query.selector.some((m) => !matcherTest(m)(''))) {
    throw new EvaluationError('the stream selector needs at least one matcher that rejects an empty value');
  }
  const stages = query.stages.map(compileStage);
  const descriptions = query.stages.map(describeStage);
  const passes = query.op === '>=' ? (v: number) => v >= query.threshold : (v: number) => v > query.threshold;
  const rangeMs = query.range * 1000;

  const selects = (stream: Labels) => selectorTests.every(({ name, test }) => test(stream[name] ?? ''));
  const run = (line: string, stream: Labels): { labels: Record<string, string>; failed: number } => {
    const labels: Record<string, string> = { ...stream };
    for (let i = 0; i < stages.length; i++) {
      if (!stages[i]!(line, stream, labels)) return { labels, failed: i };
    }
    return { labels, failed: -1 };
  };

  return {
    query,
    selects,
    process(line, stream) {
      const { labels, failed } = run(line, stream);
      return failed === -1 ? labels : null;
    },
    explain(line, stream) {
      const { labels, failed } = run(line, stream);
      if (failed === -1) return { matched: true, labels };
      const extracted = Object.fromEntries(Object.entries(labels).filter(([key]) => !(key in stream)));
      return { matched: false, droppedBy: descriptions[failed]!, extracted };
    },
    evaluate(entries, at) {
      const sums = new Map<string, Sample>();
      for (const entry of entries) {
        if (entry.ts <= at - rangeMs || entry.ts > at || !selects(entry.labels)) continue;
        const { labels, failed } = run(entry.line, entry.labels);
        if (failed !== -1) continue;
        // sum by keeps only the grouping labels; an empty value is the same as an absent label.
        const grouped: Record<string, string> = {};
        for (const name of query.groupBy) {
          const value = labels[name];
          if (value) grouped[name] = value;
        }
        const key = JSON.stringify(Object.entries(grouped).sort());
        const sample = sums.get(key);
        if (sample) sample.value += 1;
        else sums.set(key, { labels: grouped, value: 1 });
      }
      return [...sums.values()].filter((sample) => passes(sample.value));
    },
  };
}
