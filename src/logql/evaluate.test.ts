import { describe, expect, it } from 'vitest';
import { compileQuery, EvaluationError, type LogEntry } from './evaluate.js';
import { decodeString, parseRuleQuery, QueryError, syntaxErrors } from './query.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');

function query(pipeline: string, opts: { selector?: string; range?: string; tail?: string } = {}) {
  const selector = opts.selector ?? '{job="sshd"}';
  return compileQuery(
    parseRuleQuery(
      `sum by (ip, jail, host) (count_over_time(${selector} ${pipeline} [${opts.range ?? '10m'}]))${opts.tail ?? ' >= 2'}`,
    ),
  );
}

const EXTRACT = '| regexp `^fail from (?P<ip>[0-9.]+)$` | ip != ""';

function entries(
  lines: [offsetSeconds: number, line: string, labels?: Record<string, string>][],
): LogEntry[] {
  return lines.map(([offset, line, labels]) => ({
    ts: T0 + offset * 1000,
    line,
    labels: labels ?? { job: 'sshd' },
  }));
}

describe('LogQL parsing', () => {
  it('decodes backtick strings raw and double-quoted strings with Go escapes', () => {
    expect(decodeString('`a\\.b`')).toBe('a\\.b');
    expect(decodeString('"a\\\\.b \\"q\\""')).toBe('a\\.b "q"');
    expect(() => decodeString('"\\x41"')).toThrow(QueryError);
  });

  it("reports the grammar's error nodes", () => {
    expect(syntaxErrors('sum by (ip) (count_over_time({job="a"} [5m]))')).toEqual([]);
    expect(syntaxErrors('sum by (ip) (count_over_time({job="a"} | regexp [5m]))').length).toBeGreaterThan(0);
    expect(() => parseRuleQuery('sum(count_over_time({job="a"} |= "x" [5m]) >= ')).toThrow(/syntax error/);
  });

  it('reads selector, stages, range, grouping and threshold from the expression', () => {
    const q = parseRuleQuery(
      'sum by (ip, jail) (count_over_time({job="sshd", unit=~"ssh.*"} |= "Failed" !~ `Accepted` | regexp `(?P<ip>\\S+)` | ip != "" | ip != ip("10.0.0.0/8") | label_format jail=`sshd` [1h])) > 4',
    );
    expect(q.selector).toEqual([
      { name: 'job', op: '=', value: 'sshd' },
      { name: 'unit', op: '=~', value: 'ssh.*' },
    ]);
    expect(q.stages.map((s) => s.kind)).toEqual(['line', 'line', 'regexp', 'label', 'ip', 'label_format']);
    expect(q.range).toBe(3600);
    expect(q.groupBy).toEqual(['ip', 'jail']);
    expect([q.op, q.threshold]).toEqual(['>', 4]);
  });

  it('refuses what it cannot evaluate faithfully', () => {
    const range = '{job="a"} | pattern `<_> from <ip> port <_>` [5m]';
    expect(() => parseRuleQuery(`sum by (ip) (count_over_time(${range})) >= 1`)).toThrow(/regexp parser/);
    expect(() => parseRuleQuery('sum by (ip) (rate({job="a"} [5m])) >= 1')).toThrow(/count_over_time/);
    expect(() => parseRuleQuery('max by (ip) (count_over_time({job="a"} [5m])) >= 1')).toThrow(/only sum/);
    expect(() =>
      parseRuleQuery('sum by (ip) (count_over_time({job="a"} | label_format j=`{{.ip}}` [5m])) >= 1'),
    ).toThrow(/templates/);
  });
});

describe('RE2 semantics', () => {
  it('rejects what Go RE2 rejects: lookbehind, lookahead, backreferences', () => {
    expect(() => query('| regexp `(?<=from )(?P<ip>[0-9.]+)` | ip != ""')).toThrow(EvaluationError);
    expect(() => query('| regexp `(?P<ip>[0-9.]+)(?= port)` | ip != ""')).toThrow(EvaluationError);
    expect(() => query('| regexp `(?P<ip>[0-9.]+) \\1` | ip != ""')).toThrow(EvaluationError);
    expect(() => query('|~ `a(?!b)` | regexp `(?P<ip>x)`')).toThrow(EvaluationError);
  });

  it("mirrors Loki's regexp parser checks: a named group, no duplicate names", () => {
    expect(() => query('| regexp `^fail from [0-9.]+$`')).toThrow(/no named capture/);
    // Go compiles duplicate names and Loki then refuses them; RE2 proper (and re2js) refuse at once.
    expect(() => query('| regexp `^(?P<ip>a)|(?P<ip>b)$`')).toThrow(/duplicate/);
  });

  it('extracts by leftmost-first search, like Go', () => {
    const q = query('| regexp `from (?P<ip>[0-9.]+)`');
    expect(q.process('x from 1.1.1.1 and from 2.2.2.2', { job: 'sshd' })?.ip).toBe('1.1.1.1');
  });
});

describe('pipeline', () => {
  it('applies stream matchers anchored at both ends', () => {
    const q = query(EXTRACT, { selector: '{job=~"ssh|sshd", host!="bastion", unit!~"cron.*"}' });
    expect(q.selects({ job: 'sshd', host: 'web1' })).toBe(true);
    expect(q.selects({ job: 'sshd-extra' })).toBe(false);
    expect(q.selects({ job: 'sshd', host: 'bastion' })).toBe(false);
    expect(q.selects({ job: 'sshd', unit: 'cron.service' })).toBe(false);
  });

  it('needs a selector matcher that rejects the empty value, as Loki does', () => {
    expect(() => query(EXTRACT, { selector: '{job=~".*"}' })).toThrow(/at least one matcher/);
  });

  it('applies line filters before extraction; regexp line filters are unanchored', () => {
    const q = query(`|= "fail" != "from 9." |~ \`f[a]il\` !~ \`^x\` ${EXTRACT}`);
    expect(q.process('fail from 1.2.3.4', { job: 'sshd' })?.ip).toBe('1.2.3.4');
    expect(q.process('fail from 9.9.9.9', { job: 'sshd' })).toBeNull();
    expect(q.explain('fail from 9.9.9.9', { job: 'sshd' })).toMatchObject({
      matched: false,
      droppedBy: '!= "from 9."',
    });
  });

  it('drops lines without an address through the ip != "" filter', () => {
    const q = query(EXTRACT);
    expect(q.explain('accepted from 1.2.3.4', { job: 'sshd' })).toMatchObject({
      matched: false,
      droppedBy: 'ip != ""',
    });
  });

  it('suffixes an extracted label that collides with a stream label, as Loki does', () => {
    const q = query('| regexp `^fail from (?P<ip>[0-9.]+)$` | ip_extracted != ""');
    const labels = q.process('fail from 1.2.3.4', { job: 'sshd', ip: 'stream-ip' });
    expect(labels).toMatchObject({ ip: 'stream-ip', ip_extracted: '1.2.3.4' });
  });

  it('filters allowlisted addresses and networks with ip("…")', () => {
    const q = query(`${EXTRACT} | ip != ip("10.0.0.0/8") | ip != ip("192.0.2.1")`);
    expect(q.process('fail from 10.1.2.3', { job: 'sshd' })).toBeNull();
    expect(q.process('fail from 192.0.2.1', { job: 'sshd' })).toBeNull();
    expect(q.process('fail from 192.0.2.2', { job: 'sshd' })?.ip).toBe('192.0.2.2');
    const only = query('| regexp `^fail from (?P<ip>[0-9.]+)$` | ip = ip("192.0.2.0/24")');
    expect(only.process('fail from 192.0.2.9', { job: 'sshd' })).not.toBeNull();
    expect(only.process('fail from 198.51.100.9', { job: 'sshd' })).toBeNull();
  });
});

describe('count_over_time, sum by and the threshold', () => {
  const log = entries([
    [0, 'fail from 1.1.1.1', { job: 'sshd', host: 'a' }],
    [10, 'fail from 1.1.1.1', { job: 'sshd', host: 'a' }],
    [20, 'fail from 1.1.1.1', { job: 'sshd', host: 'b' }],
    [30, 'fail from 2.2.2.2', { job: 'sshd', host: 'a' }],
    [40, 'fail from 2.2.2.2', { job: 'other', host: 'a' }],
  ]);

  it('counts per grouping labels and keeps series at or above the threshold', () => {
    const q = query(`${EXTRACT} | label_format jail=\`sshd\``, { tail: ' >= 2' });
    expect(q.evaluate(log, T0 + 60_000)).toEqual([
      { labels: { ip: '1.1.1.1', jail: 'sshd', host: 'a' }, value: 2 },
    ]);
  });

  it('drops labels not in by (...) and empty ones', () => {
    const q = compileQuery(
      parseRuleQuery(`sum by (ip, nothere) (count_over_time({job="sshd"} ${EXTRACT} [10m])) > 2`),
    );
    expect(q.evaluate(log, T0 + 60_000)).toEqual([{ labels: { ip: '1.1.1.1' }, value: 3 }]);
  });

  const byIp = (range: string, tail: string) =>
    compileQuery(parseRuleQuery(`sum by (ip) (count_over_time({job="sshd"} ${EXTRACT} [${range}]))${tail}`));

  it('uses a range open at its start and closed at its end: (t - range, t]', () => {
    const q = byIp('20s', ' >= 1');
    const at = (s: number) => q.evaluate(log, T0 + s * 1000).map((x) => [x.labels.ip, x.value]);
    expect(at(20)).toEqual([['1.1.1.1', 2]]);
    expect(at(30)).toEqual([
      ['1.1.1.1', 1],
      ['2.2.2.2', 1],
    ]);
    expect(at(-1)).toEqual([]);
  });

  it('distinguishes > from >=', () => {
    expect(byIp('10m', ' > 3').evaluate(log, T0 + 60_000)).toEqual([]);
    expect(byIp('10m', ' >= 3').evaluate(log, T0 + 60_000)).toEqual([
      { labels: { ip: '1.1.1.1' }, value: 3 },
    ]);
  });
});
