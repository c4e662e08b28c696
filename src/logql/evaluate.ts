import { RE2JS } from 're2js';
import { contains, parseAddress, parseNetwork } from '../domain/ip.js';
import type { LabelMatcher, RuleQuery, Stage } from './query.js';
import { translateRe2ToJs } from './re2-js.js';

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

/**
 * `auto` checks every pattern with RE2 (re2js, so RE2's syntax decides what is accepted) and then
 * matches with an equivalent V8 RegExp when `re2-js.ts` can translate it exactly — re2js extracts
 * submatches some forty times slower. `re2js` matches with re2js only (differential tests use it).
 */
export type RegexEngine = 'auto' | 're2js';

export interface Re2Pattern {
  readonly engine: 'v8' | 're2js';
  test(input: string): boolean;
  /** Named groups of the leftmost-first match ('' for a group that did not take part), or null. */
  groups(input: string): Record<string, string | undefined> | null;
  readonly names: readonly string[];
}

/** Compiles with RE2 semantics; the message names the pattern when RE2 refuses it. */
export function compileRe2(pattern: string, engine: RegexEngine = 'auto'): Re2Pattern {
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (error) {
    throw new EvaluationError(`not a valid RE2 regexp (${(error as Error).message}): ${pattern}`);
  }
  const named = Object.entries(re.namedGroups());
  const names = named.map(([name]) => name);
  const js = engine === 'auto' ? translateRe2ToJs(pattern) : undefined;
  if (js) {
    return {
      engine: 'v8',
      names,
      test: (input) => js.test(input),
      groups(input) {
        return js.exec(input)?.groups ?? null;
      },
    };
  }
  return {
    engine: 're2js',
    names,
    test: (input) => re.test(input),
    groups(input) {
      const m = re.matcher(input);
      if (!m.find()) return null;
      const out: Record<string, string> = {};
      for (const [name, index] of named) out[name] = m.group(index) ?? '';
      return out;
    },
  };
}

type StringTest = (value: string) => boolean;

// Loki turns `a|b|c` of plain literals into substring checks too; the result is the same as the regexp.
const LITERAL_ALTERNATION = /^[A-Za-z0-9 _,;:'"=/<>@#%&-]+(?:\|[A-Za-z0-9 _,;:'"=/<>@#%&-]+)*$/;

function lineRegexpTest(pattern: string, engine: RegexEngine): StringTest {
  const re = compileRe2(pattern, engine);
  if (LITERAL_ALTERNATION.test(pattern)) {
    const literals = pattern.split('|');
    return (line) => literals.some((literal) => line.includes(literal));
  }
  return (line) => re.test(line);
}

function matcherTest(matcher: LabelMatcher, engine: RegexEngine = 'auto'): StringTest {
  switch (matcher.op) {
    case '=':
      return (value) => value === matcher.value;
    case '!=':
      return (value) => value !== matcher.value;
    case '=~': {
      const re = compileRe2(`^(?:${matcher.value})$`, engine);
      return (value) => re.test(value);
    }
    case '!~': {
      const re = compileRe2(`^(?:${matcher.value})$`, engine);
      return (value) => !re.test(value);
    }
  }
}

/** Mirrors Loki's NewRegexpParser checks: at least one named group, valid and unique label names. */
export function compileExtraction(pattern: string, engine: RegexEngine = 'auto'): Re2Pattern {
  const re = compileRe2(pattern, engine);
  if (re.names.length === 0) throw new EvaluationError(`regexp has no named capture group: ${pattern}`);
  for (const name of re.names) {
    if (!LABEL_NAME.test(name)) throw new EvaluationError(`invalid extracted label name '${name}'`);
  }
  return re;
}

/**
 * `added` holds only the labels the pipeline set (extracted or formatted); reads fall back to the
 * stream's labels. Copying the stream labels for every line cost more than the regexps did.
 */
type StageFn = (line: string, stream: Labels, added: Record<string, string>) => boolean;

const read = (name: string, stream: Labels, added: Record<string, string>): string =>
  added[name] ?? stream[name] ?? '';

function compileStage(stage: Stage, engine: RegexEngine): StageFn {
  switch (stage.kind) {
    case 'line': {
      const { op, value } = stage;
      if (op === '|=') return (line) => line.includes(value);
      if (op === '!=') return (line) => !line.includes(value);
      const test = lineRegexpTest(value, engine);
      return op === '|~' ? (line) => test(line) : (line) => !test(line);
    }
    case 'regexp': {
      const re = compileExtraction(stage.pattern, engine);
      return (line, stream, added) => {
        const groups = re.groups(line);
        if (!groups) return true;
        for (const name of re.names) {
          const key = name in stream ? `${name}_extracted` : name;
          added[key] = groups[name] ?? '';
        }
        return true;
      };
    }
    case 'label': {
      const test = matcherTest(stage.matcher, engine);
      const { name } = stage.matcher;
      return (_line, stream, added) => test(read(name, stream, added));
    }
    case 'ip': {
      const network = parseNetwork(stage.value);
      if (!network) throw new EvaluationError(`ip("${stage.value}") is not an address or CIDR`);
      const { name, op } = stage;
      // Attackers repeat themselves: remembering each address's answer avoids re-parsing it per line.
      const memo = new Map<string, boolean>();
      return (_line, stream, added) => {
        const value = read(name, stream, added);
        let inside = memo.get(value);
        if (inside === undefined) {
          const address = parseAddress(value);
          inside = address !== undefined && contains(network, address);
          if (memo.size >= 65_536) memo.clear();
          memo.set(value, inside);
        }
        return op === '=' ? inside : !inside;
      };
    }
    case 'label_format': {
      const { name, value } = stage;
      return (_line, _stream, added) => {
        added[name] = value;
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
  /** Like process, returning one label's value only: the fast path of `--explain --summary`. */
  extract(line: string, stream: Labels, name: string): string | null;
  /** The value of label `name` when the line counts, else the index of the stage that dropped it. */
  classify(line: string, stream: Labels, name: string): string | number;
  /** A stage in LogQL form, for messages: `ip != ""`, `|~ "Failed "`. */
  describe(stage: number): string;
  explain(line: string, stream: Labels): LineVerdict;
  /** The instant-query value at `at` (epoch ms), threshold applied: what the ruler would alert on. */
  evaluate(entries: readonly LogEntry[], at: number): Sample[];
}

export function compileQuery(query: RuleQuery, engine: RegexEngine = 'auto'): CompiledQuery {
  const selectorTests = query.selector.map((m) => ({ name: m.name, test: matcherTest(m, engine) }));
  if (!query.selector.some((m) => !matcherTest(m)(''))) {
    throw new EvaluationError('the stream selector needs at least one matcher that rejects an empty value');
  }
  const stages = query.stages.map((stage) => compileStage(stage, engine));
  const descriptions = query.stages.map(describeStage);
  const passes = query.op === '>=' ? (v: number) => v >= query.threshold : (v: number) => v > query.threshold;
  const rangeMs = query.range * 1000;

  const selects = (stream: Labels) => selectorTests.every(({ name, test }) => test(stream[name] ?? ''));
  const run = (line: string, stream: Labels): { added: Record<string, string>; failed: number } => {
    const added: Record<string, string> = {};
    for (let i = 0; i < stages.length; i++) {
      if (!stages[i]!(line, stream, added)) return { added, failed: i };
    }
    return { added, failed: -1 };
  };

  return {
    query,
    selects,
    process(line, stream) {
      const { added, failed } = run(line, stream);
      return failed === -1 ? { ...stream, ...added } : null;
    },
    extract(line, stream, name) {
      const { added, failed } = run(line, stream);
      return failed === -1 ? read(name, stream, added) : null;
    },
    classify(line, stream, name) {
      const { added, failed } = run(line, stream);
      return failed === -1 ? read(name, stream, added) : failed;
    },
    describe: (stage) => descriptions[stage] ?? '',
    explain(line, stream) {
      const { added, failed } = run(line, stream);
      if (failed === -1) return { matched: true, labels: { ...stream, ...added } };
      return { matched: false, droppedBy: descriptions[failed]!, extracted: added };
    },
    evaluate(entries, at) {
      const sums = new Map<string, Sample>();
      for (const entry of entries) {
        if (entry.ts <= at - rangeMs || entry.ts > at || !selects(entry.labels)) continue;
        const { added, failed } = run(entry.line, entry.labels);
        if (failed !== -1) continue;
        // sum by keeps only the grouping labels; an empty value is the same as an absent label.
        const grouped: Record<string, string> = {};
        for (const name of query.groupBy) {
          const value = read(name, entry.labels, added);
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
