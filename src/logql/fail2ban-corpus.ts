import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseAddress } from '../domain/ip.js';
import type { JailDefinition } from './catalogue.js';
import { compileQuery } from './evaluate.js';
import { parseRuleQuery } from './query.js';
import { type RenderContext, renderLoki } from './render.js';
import type { LoadedRule } from './rule-test.js';
import { loadRules } from './toolkit.js';

/**
 * fail2ban's labelled sample logs, read where Debian's `fail2ban` package installs them (fail2ban is
 * GPL-2.0: its lines and regexps never enter this repository). The parser follows fail2ban 1.0.2's
 * tests/samplestestcase.py line for line: `# failJSON:` labels the next line, `# filterOptions:`
 * starts a section tested under one or several option sets (modes), `# fileOptions:` is merged into
 * every later option set, `test.condition` skips a section, `constraint` skips a line for one option
 * set, `# addFILE:` appends another sample file, and a line without a label must not match.
 */

export const CORPUS_FALLBACK_DIR = '/usr/lib/python3/dist-packages/fail2ban/tests/files/logs';
export const FILTER_FALLBACK_DIR = '/etc/fail2ban/filter.d';

export interface CorpusLocation {
  /** tests/files/logs: one sample file per filter. */
  logs: string;
  /** filter.d, where each filter's default mode is read. */
  filters: string;
}

/** The directory `dpkg -L fail2ban` lists, else Debian's usual path; undefined when not installed. */
export function findCorpus(env: NodeJS.ProcessEnv = process.env): CorpusLocation | undefined {
  if (env.LOKIBAN_FAIL2BAN_CORPUS) {
    const logs = env.LOKIBAN_FAIL2BAN_CORPUS;
    return existsSync(logs)
      ? { logs, filters: env.LOKIBAN_FAIL2BAN_FILTERS ?? FILTER_FALLBACK_DIR }
      : undefined;
  }
  let listed: string[] = [];
  try {
    listed = execFileSync('dpkg', ['-L', 'fail2ban'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).split('\n');
  } catch {
    // No dpkg or no package: the fallback path below decides.
  }
  const logs = listed.find((path) => path.endsWith('/tests/files/logs')) ?? CORPUS_FALLBACK_DIR;
  if (!existsSync(logs)) return undefined;
  const sshdConf = listed.find((path) => path.endsWith('/filter.d/sshd.conf'));
  return { logs, filters: sshdConf ? dirname(sshdConf) : FILTER_FALLBACK_DIR };
}

/** One option set of a `# filterOptions:` section, `fileOptions` merged in, `test.*` keys kept. */
export type FilterOptions = Readonly<Record<string, unknown>>;

/** What fail2ban asserts about one sample line. */
export interface CorpusExpectation {
  match: boolean;
  /** `host` of the failJSON: an address, a DNS name, or absent. */
  host?: string;
  desc?: string;
}

export interface CorpusLine {
  /** Sample file name under tests/files/logs (`sshd`, `sshd-journal`). */
  file: string;
  /** 1-based line number of the tested line in that file. */
  line: number;
  text: string;
  /** SHA-256 (hex) of the line's bytes without the line end, to pin exceptions to exact content. */
  sha256: string;
  expect: CorpusExpectation;
  /** The option sets fail2ban tests this line under (after `test.condition` and `constraint`). */
  options: FilterOptions[];
}

export class CorpusError extends Error {
  override name = 'CorpusError';
}

/**
 * The few Python expressions the corpus uses in `test.condition` and `constraint`:
 * `name == 'x'`, `name != 'x'`, `opts.get('k') == 'v'`, `opts.get('k') != 'v'`. Anything else is an
 * error rather than a guess, so a new corpus form is noticed.
 */
export function evalCondition(expression: string, name: string, opts: FilterOptions): boolean {
  const m = /^\s*(name|opts\.get\(\s*(['"])([^'"]+)\2\s*\))\s*(==|!=)\s*(['"])([^'"]*)\5\s*$/.exec(
    expression,
  );
  if (!m) throw new CorpusError(`unsupported fail2ban test expression: ${expression}`);
  const left = m[1] === 'name' ? name : opts[m[3]!];
  const equal = left === m[6];
  return m[4] === '==' ? equal : !equal;
}

const LABEL = /^#+ ?(failJSON|(?:file|filter)Options|addFILE):(.+)$/;

function splitLines(buffer: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let end = buffer.indexOf(10); end !== -1; end = buffer.indexOf(10, start)) {
    lines.push(buffer.subarray(start, end + 1));
    start = end + 1;
  }
  if (start < buffer.length) lines.push(buffer.subarray(start));
  return lines;
}

function stripEnd(bytes: Buffer): Buffer {
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 10 || bytes[end - 1] === 13)) end--;
  return bytes.subarray(0, end);
}

function parseJson(text: string, file: string, line: number): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CorpusError(`${file}:${line}: ${(error as Error).message}`);
  }
}

function expectation(data: unknown): CorpusExpectation {
  const record = (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>;
  return {
    match: record.match === true,
    ...(typeof record.host === 'string' ? { host: record.host } : {}),
    ...(typeof record.desc === 'string' ? { desc: record.desc } : {}),
  };
}

/**
 * Every line fail2ban's sample test checks for filter `name`, in order, with the option sets it is
 * checked under. State carries over into `addFILE` files exactly as in samplestestcase.py: the current
 * section's option sets and the `fileOptions` persist, the skipped-section flag is reset per file.
 */
export function parseCorpus(logsDir: string, name: string): CorpusLine[] {
  const first = join(logsDir, name);
  if (!existsSync(first)) throw new CorpusError(`fail2ban has no sample log for filter "${name}" (${first})`);
  const filenames = [name];
  const out: CorpusLine[] = [];
  let commonOpts: Record<string, unknown> = {};
  let sections: FilterOptions[] | undefined;
  for (let i = 0; i < filenames.length; i++) {
    const file = filenames[i]!;
    const lines = splitLines(readFileSync(join(logsDir, file)));
    let ignoreBlock = false;
    for (let index = 0; index < lines.length; index++) {
      let raw = lines[index]!;
      let text = new TextDecoder('utf-8').decode(raw);
      let data: unknown = {};
      const label = LABEL.exec(text.replace(/\r?\n$/, ''));
      if (label) {
        const kind = label[1]!;
        const parsed = parseJson(label[2]!, file, index + 1);
        if (kind === 'fileOptions') {
          commonOpts = parsed as Record<string, unknown>;
          continue;
        }
        if (kind === 'filterOptions') {
          sections = [];
          ignoreBlock = false;
          for (const entry of Array.isArray(parsed) ? parsed : [parsed]) {
            if (typeof entry !== 'object' || entry === null) {
              throw new CorpusError(`${file}:${index + 1}: filterOptions entry is not an object`);
            }
            const opts = { ...commonOpts, ...(entry as Record<string, unknown>) };
            const condition = opts['test.condition'];
            if (typeof condition === 'string' && condition)
              ignoreBlock = !evalCondition(condition, name, opts);
            if (!ignoreBlock) sections.push(opts);
          }
          continue;
        }
        if (kind === 'addFILE') {
          filenames.push(String(parsed));
          continue;
        }
        data = parsed;
        index++;
        if (index >= lines.length) break;
        raw = lines[index]!;
        text = new TextDecoder('utf-8').decode(raw);
      } else if (ignoreBlock || text.startsWith('#') || text.trim() === '') {
        continue;
      }
      if (ignoreBlock) continue;
      if (!sections || sections.length === 0) sections = [{}];
      const constraint = (data as Record<string, unknown>).constraint;
      const applies = sections.filter(
        (opts) => typeof constraint !== 'string' || !constraint || evalCondition(constraint, name, opts),
      );
      if (applies.length === 0) continue;
      const bytes = stripEnd(raw);
      const prefix = applies.find((opts) => opts.logtype === 'journal' && opts['test.prefix-line']);
      const decoded = new TextDecoder('utf-8').decode(bytes);
      out.push({
        file,
        line: index + 1,
        // journald backends put a common prefix before MESSAGE-only sample lines.
        text: prefix ? `${String(prefix['test.prefix-line'])}${decoded}` : decoded,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        expect: expectation(data),
        options: applies,
      });
    }
  }
  return out;
}

/** The filter's own default `mode` (filter.d/<name>.conf), used when an option set names no mode. */
export function defaultMode(filtersDir: string, filter: string): string | undefined {
  const conf = join(filtersDir, `${filter}.conf`);
  if (!existsSync(conf)) return undefined;
  return /^mode\s*=\s*(\S+)/m.exec(readFileSync(conf, 'utf8'))?.[1];
}

/** Lines tested under `mode` (undefined: the filter's default options). */
export function linesForMode(lines: CorpusLine[], mode: string | undefined, fallback?: string): CorpusLine[] {
  const wanted = mode ?? fallback;
  return lines.filter((line) =>
    line.options.some((opts) => (typeof opts.mode === 'string' ? opts.mode : fallback) === wanted),
  );
}

/** The canonical form of an address (IPv4-mapped as IPv4), or undefined for a DNS name. */
export function canonicalAddress(value: string): string | undefined {
  return parseAddress(value)?.address;
}

export interface CorpusException {
  file: string;
  line: number;
  sha256: string;
  reason: string;
}

export type LineOutcome =
  | { kind: 'found'; ip: string }
  | { kind: 'missed'; why: string }
  | { kind: 'wrong'; ip: string }
  | { kind: 'false'; ip: string }
  | { kind: 'excepted'; reason: string }
  /** fail2ban took the address from an earlier line of the connection: out of a one-line rule's reach. */
  | { kind: 'elsewhere' }
  | { kind: 'ignored'; why: string };

export interface LineResult {
  line: CorpusLine;
  outcome: LineOutcome;
  /** Rules of the jail that counted the line: more than one counts one attempt twice. */
  rules: string[];
}

export interface JailCorpusResult {
  jail: string;
  /** The most exceptions may be of `lines`: MAX_EXCEPTION_SHARE unless the jail documents more. */
  exceptionShare: number;
  filter: string;
  mode: string;
  /** Corpus lines the jail is checked against (asserted matches and non-matches). */
  lines: number;
  /** Lines fail2ban asserts as matches with an IP address, exceptions included. */
  expected: number;
  found: number;
  wrong: number;
  falseMatches: number;
  /** Lines counted by more than one rule of the jail. */
  double: number;
  exceptions: number;
  /** Expected lines that do not contain their address (fail2ban joined an earlier line). */
  elsewhere: number;
  /** found / (expected - exceptions - elsewhere); 1 when nothing is expected. */
  recall: number;
  results: LineResult[];
  /** Exceptions that do not fit the corpus: changed line, not an expected match, already found. */
  exceptionProblems: string[];
}

export const MIN_RECALL = 0.98;
export const MAX_EXCEPTION_SHARE = 0.03;

/** Failures of the parity contract for one jail; empty when it holds. */
export function parityProblems(result: JailCorpusResult): string[] {
  const problems = [...result.exceptionProblems];
  const name = `${result.jail} (${result.filter}/${result.mode})`;
  if (result.recall < MIN_RECALL) {
    problems.push(
      `${name}: recall ${formatPercent(result.recall)} < ${formatPercent(MIN_RECALL)} (${result.found}/${result.expected - result.exceptions - result.elsewhere})`,
    );
  }
  if (result.wrong > 0) problems.push(`${name}: ${result.wrong} lines with another address`);
  if (result.falseMatches > 0) problems.push(`${name}: ${result.falseMatches} matches on non-matching lines`);
  if (result.double > 0) problems.push(`${name}: ${result.double} lines counted by more than one rule`);
  if (result.exceptions > result.lines * result.exceptionShare) {
    problems.push(
      `${name}: ${result.exceptions} exceptions exceed ${formatPercent(result.exceptionShare)} of ${result.lines} lines`,
    );
  }
  return problems;
}

export function formatPercent(value: number): string {
  return `${(Math.floor(value * 1000) / 10).toFixed(1)} %`;
}

/**
 * The jail's rules exactly as `rules test` sees them (rendered to Loki ruler files and read back),
 * without ignoreip: the corpus's addresses are documentation and loopback ranges that an
 * operator's ignoreip may hold, and detection is what is measured here.
 */
export function corpusRules(definition: JailDefinition, context: RenderContext): LoadedRule[] {
  const single: RenderContext = {
    ...context,
    jails: [
      {
        definition,
        selector: definition.selector,
        maxretry: definition.maxretry,
        findtime: definition.findtime,
        ignoreip: [],
      },
    ],
  };
  return loadRules(renderLoki(single), 'loki', context.labels.jail);
}

/** Runs the corpus lines through every rule of one jail and classifies each line. */
export function checkJail(
  rules: LoadedRule[],
  lines: CorpusLine[],
  meta: {
    jail: string;
    filter: string;
    mode: string;
    exceptions: CorpusException[];
    exceptionShare?: number;
  },
  ipLabel = 'ip',
): JailCorpusResult {
  const compiled = rules.map((rule) => {
    const query = compileQuery(parseRuleQuery(rule.expr));
    const labels = Object.fromEntries(
      query.query.selector.filter((m) => m.op === '=').map((m) => [m.name, m.value]),
    );
    return { rule, query, labels };
  });
  const exceptions = new Map(meta.exceptions.map((e) => [`${e.file}:${e.line}`, e]));
  const exceptionProblems: string[] = [];
  const seen = new Set<string>();
  const results: LineResult[] = [];
  let expected = 0;
  let found = 0;
  let wrong = 0;
  let falseMatches = 0;
  let double = 0;
  let excepted = 0;
  let elsewhere = 0;
  for (const line of lines) {
    const key = `${line.file}:${line.line}`;
    seen.add(key);
    const hits: { alert: string; ip: string }[] = [];
    const drops: string[] = [];
    for (const { rule, query, labels } of compiled) {
      const verdict = query.classify(line.text, labels, ipLabel);
      if (typeof verdict === 'string') hits.push({ alert: rule.alert, ip: verdict });
      else drops.push(dropReason(query.describe(verdict), ipLabel));
    }
    if (hits.length > 1) double++;
    const ip = hits[0]?.ip;
    const want = line.expect.match && line.expect.host ? canonicalAddress(line.expect.host) : undefined;
    const exception = exceptions.get(key);
    let outcome: LineOutcome;
    if (!line.expect.match) {
      outcome = ip === undefined ? { kind: 'ignored', why: 'non-match, not counted' } : { kind: 'false', ip };
      if (ip !== undefined) falseMatches++;
    } else if (want === undefined) {
      outcome = {
        kind: 'ignored',
        why: `fail2ban's match has no IP address (host ${line.expect.host ?? 'none'})`,
      };
    } else {
      expected++;
      const got = ip === undefined ? undefined : (canonicalAddress(ip) ?? ip);
      if (ip !== undefined && got !== want) {
        wrong++;
        outcome = { kind: 'wrong', ip };
      } else if (ip !== undefined) {
        found++;
        outcome = { kind: 'found', ip };
      } else if (!mentions(line.text, want)) {
        elsewhere++;
        outcome = { kind: 'elsewhere' };
      } else if (exception) {
        excepted++;
        outcome = { kind: 'excepted', reason: exception.reason };
      } else {
        outcome = { kind: 'missed', why: [...new Set(drops)].join('; ') };
      }
    }
    if (exception) {
      if (exception.sha256 !== line.sha256) {
        exceptionProblems.push(
          `${meta.jail}: exception ${key} no longer matches the corpus line (sha256 ${line.sha256})`,
        );
      } else if (outcome.kind !== 'excepted') {
        exceptionProblems.push(
          `${meta.jail}: exception ${key} is not needed (${outcome.kind === 'found' ? 'found' : outcome.kind}): remove it`,
        );
      }
    }
    results.push({ line, outcome, rules: hits.map((hit) => hit.alert) });
  }
  for (const key of exceptions.keys()) {
    if (!seen.has(key)) {
      exceptionProblems.push(`${meta.jail}: exception ${key} is not a line of ${meta.filter}/${meta.mode}`);
    }
  }
  const denominator = expected - excepted - elsewhere;
  return {
    jail: meta.jail,
    exceptionShare: meta.exceptionShare ?? MAX_EXCEPTION_SHARE,
    filter: meta.filter,
    mode: meta.mode,
    lines: lines.length,
    expected,
    found,
    wrong,
    falseMatches,
    double,
    exceptions: excepted,
    elsewhere,
    recall: denominator > 0 ? found / denominator : 1,
    results,
    exceptionProblems,
  };
}

const IPV4_LIKE = /(?:[0-9]{1,3}\.){3}[0-9]{1,3}/g;
const IPV6_LIKE = /[0-9A-Fa-f]*:[0-9A-Fa-f:.]*/g;

/**
 * Whether the line names the address anywhere: as written, IPv4-mapped or not, in any case, with a
 * port or brackets around it (`1.2.3.4:5678`, `[2001:db8::1]:22`).
 */
export function mentions(text: string, address: string): boolean {
  for (const token of [...(text.match(IPV4_LIKE) ?? []), ...(text.match(IPV6_LIKE) ?? [])]) {
    const trimmed = token.replace(/^[:.]+|[:.]+$/g, '');
    if (canonicalAddress(trimmed) === address) return true;
    // `addr:port` for IPv6 is ambiguous: try without the last group too.
    const shorter = trimmed.replace(/:[0-9]+$/, '');
    if (shorter !== trimmed && canonicalAddress(shorter) === address) return true;
  }
  return false;
}

function dropReason(stage: string, ipLabel: string): string {
  if (stage === `${ipLabel} != ""`) return 'regexp does not match';
  if (stage.startsWith('|') || stage.startsWith('!')) return `dropped by line filter ${stage}`;
  return `dropped by ${stage}`;
}

export interface CorpusJail {
  definition: JailDefinition;
  filter: string;
  mode?: string;
  exceptions: CorpusException[];
  exceptionShare?: number;
}

/** The corpus check a jail's own `fail2ban:` block asks for. */
export function corpusJail(definition: JailDefinition): CorpusJail | undefined {
  const parity = definition.fail2ban;
  if (!parity) return undefined;
  return {
    definition,
    filter: parity.filter,
    mode: parity.mode,
    exceptions: parity.exceptions,
    exceptionShare: parity.exceptionLimit?.share,
  };
}

/** Parses, selects and checks one jail; the corpus files are read once per filter per call site. */
export function runJailCorpus(
  jail: CorpusJail,
  context: RenderContext,
  location: CorpusLocation,
  cache: Map<string, CorpusLine[]> = new Map(),
): JailCorpusResult {
  let lines = cache.get(jail.filter);
  if (!lines) {
    lines = parseCorpus(location.logs, jail.filter);
    cache.set(jail.filter, lines);
  }
  const fallback = defaultMode(location.filters, jail.filter);
  const selected = linesForMode(lines, jail.mode, fallback);
  if (selected.length === 0) {
    throw new CorpusError(
      `${jail.definition.name}: fail2ban's corpus has no lines for ${jail.filter}/${jail.mode ?? fallback ?? 'default'}`,
    );
  }
  return checkJail(
    corpusRules(jail.definition, context),
    selected,
    {
      jail: jail.definition.name,
      filter: jail.filter,
      mode: jail.mode ?? fallback ?? 'default',
      exceptions: jail.exceptions,
      exceptionShare: jail.exceptionShare,
    },
    context.labels.ip,
  );
}

export const CORPUS_TABLE_HEADERS = [
  'jail',
  'filter/mode',
  'expected',
  'found',
  'recall',
  'wrong',
  'false',
  'double',
  'exceptions',
  'elsewhere',
];

export function corpusTableRow(result: JailCorpusResult): string[] {
  return [
    result.jail,
    `${result.filter}/${result.mode}`,
    String(result.expected),
    String(result.found),
    formatPercent(result.recall),
    String(result.wrong),
    String(result.falseMatches),
    String(result.double),
    String(result.exceptions),
    String(result.elsewhere),
  ];
}
