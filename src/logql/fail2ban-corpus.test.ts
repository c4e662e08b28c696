import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { registerRulesCommands } from '../cli/rules.js';
import { parseJailDefinition } from './catalogue.js';
import {
  type CorpusException,
  checkJail,
  corpusRules,
  defaultMode,
  evalCondition,
  linesForMode,
  mentions,
  parityProblems,
  parseCorpus,
} from './fail2ban-corpus.js';
import { resolveRenderContext } from './render.js';

// A made-up "demo" daemon in fail2ban's sample-file format: the semantics are fail2ban's, the lines ours.
const dir = mkdtempSync(join(tmpdir(), 'lokiban-corpus-'));
const logs = join(dir, 'logs');
const filters = join(dir, 'filter.d');
mkdirSync(logs);
mkdirSync(filters);
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  process.exitCode = undefined;
});

const demo = [
  '# a comment, then a blank line',
  '',
  '# failJSON: { "time": "2005-01-01T00:00:00", "match": true , "host": "192.0.2.1" }',
  'Jan  1 00:00:00 box demo[1]: bad login from 192.0.2.1 port 22',
  '# failJSON: { "match": false }',
  'Jan  1 00:00:01 box demo[1]: good login from 192.0.2.2 port 22',
  'Jan  1 00:00:02 box demo[1]: unlabelled login from 192.0.2.3 port 22',
  '# filterOptions: [{"mode": "strict"}, {}]',
  '# failJSON: { "match": true , "host": "2001:DB8::5", "desc": "both modes" }',
  'Jan  1 00:00:03 box demo[1]: bad login from 2001:db8::5 port 22',
  '# failJSON: { "match": true , "host": "198.51.100.9", "constraint": "opts.get(\'mode\') == \'strict\'" }',
  'Jan  1 00:00:04 box demo[1]: odd login from 198.51.100.9 port 22',
  '# filterOptions: [{"mode": "strict"}, {"mode": "loose", "test.condition": "name == \'other\'"}]',
  '# failJSON: { "match": true , "host": "203.0.113.1" }',
  'Jan  1 00:00:05 box demo[1]: skipped section from 203.0.113.1 port 22',
  '# filterOptions: [{"mode": "loose"}]',
  '# failJSON: { "match": true , "host": "203.0.113.2" }',
  'Jan  1 00:00:06 box demo[1]: bad login from 203.0.113.9 port 22',
  '# failJSON: { "match": true , "host": "203.0.113.3" }',
  'Jan  1 00:00:07 box demo[1]: second line of a session',
  '# failJSON: { "match": true , "host": "203.0.113.4" }',
  'Jan  1 00:00:08 box demo[1]: session of 203.0.113.4 ended',
  '# addFILE: "demo-journal"',
].join('\n');
const journal = [
  '# fileOptions: {"logtype": "journal", "test.prefix-line": "box demo[1]: "}',
  '# failJSON: { "match": true , "host": "192.0.2.76" }',
  'bad login from 192.0.2.76 port 22',
  '# filterOptions: [{"mode": "loose"}]',
  '# failJSON: { "match": true , "host": "192.0.2.77" }',
  'bad login from 192.0.2.77 port 22',
].join('\n');
writeFileSync(join(logs, 'demo'), `${demo}\n`);
writeFileSync(join(logs, 'demo-journal'), journal);
writeFileSync(join(filters, 'demo.conf'), '[Definition]\nfailregex = whatever\nmode = normal\n');

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

const jailYaml = `name: demo
alert: Demo
description: Demo failures.
selector: '{job="demo"}'
filters: [{ op: "|=", value: " login from " }]
regexp: '^<SYSLOG>(?:bad|odd) login from <HOST> port [0-9]+$'
maxretry: 3
findtime: 10m
summary: "demo {{ $labels.ip }}"
`;

describe('parseCorpus', () => {
  const lines = parseCorpus(logs, 'demo');

  it('follows samplestestcase.py: labels, unlabelled lines, sections, conditions, constraints, addFILE', () => {
    expect(lines.map((l) => [l.file, l.line, l.expect.match, l.expect.host ?? null, l.options])).toEqual([
      ['demo', 4, true, '192.0.2.1', [{}]],
      ['demo', 6, false, null, [{}]],
      ['demo', 7, false, null, [{}]],
      ['demo', 10, true, '2001:DB8::5', [{ mode: 'strict' }, {}]],
      ['demo', 12, true, '198.51.100.9', [{ mode: 'strict' }]],
      // the section whose last option set fails test.condition is skipped whole, as in fail2ban
      ['demo', 18, true, '203.0.113.2', [{ mode: 'loose' }]],
      ['demo', 20, true, '203.0.113.3', [{ mode: 'loose' }]],
      ['demo', 22, true, '203.0.113.4', [{ mode: 'loose' }]],
      // the including file's section carries over; fileOptions merge into later sections only
      ['demo-journal', 3, true, '192.0.2.76', [{ mode: 'loose' }]],
      [
        'demo-journal',
        6,
        true,
        '192.0.2.77',
        [{ mode: 'loose', logtype: 'journal', 'test.prefix-line': 'box demo[1]: ' }],
      ],
    ]);
    expect(lines.at(-1)!.text).toBe('box demo[1]: bad login from 192.0.2.77 port 22');
    expect(lines[0]!.sha256).toBe(sha('Jan  1 00:00:00 box demo[1]: bad login from 192.0.2.1 port 22'));
  });

  it("selects a mode's lines, option sets without a mode taking the filter's default", () => {
    expect(defaultMode(filters, 'demo')).toBe('normal');
    const at = (mode: string | undefined) => linesForMode(lines, mode, 'normal').map((l) => l.line);
    expect(at(undefined)).toEqual([4, 6, 7, 10]);
    expect(at('normal')).toEqual([4, 6, 7, 10]);
    expect(at('strict')).toEqual([10, 12]);
    expect(at('loose')).toEqual([18, 20, 22, 3, 6]);
  });

  it('finds the address on a line in the forms daemons write it', () => {
    expect(mentions('[client 192.0.2.1:51380] AH01797: denied', '192.0.2.1')).toBe(true);
    expect(mentions('from ::ffff:192.0.2.1 port 22', '192.0.2.1')).toBe(true);
    expect(mentions('rip=2001:DB8::5, lip=2001:db8::1', '2001:db8::5')).toBe(true);
    expect(mentions('[2001:db8::5]:22 closed', '2001:db8::5')).toBe(true);
    expect(mentions('from 192.0.2.10 port 22', '192.0.2.1')).toBe(false);
    expect(mentions('Too many authentication failures for root', '192.0.2.1')).toBe(false);
  });

  it('refuses Python it does not understand instead of guessing', () => {
    expect(evalCondition("name == 'demo'", 'demo', {})).toBe(true);
    expect(evalCondition("opts.get('mode') != 'x'", 'demo', {})).toBe(true);
    expect(() => evalCondition('sys.version_info >= (3,)', 'demo', {})).toThrow(/unsupported/);
  });

  it('names a filter without samples', () => {
    expect(() => parseCorpus(logs, 'nope')).toThrow(/no sample log for filter "nope"/);
  });
});

describe('checkJail', () => {
  const definition = parseJailDefinition(jailYaml, 'demo.yaml');
  const context = resolveRenderContext([definition]);
  const rules = corpusRules(definition, context);
  const lines = parseCorpus(logs, 'demo');
  const run = (mode: string | undefined, exceptions: CorpusException[] = []) =>
    checkJail(rules, linesForMode(lines, mode, 'normal'), {
      jail: 'demo',
      filter: 'demo',
      mode: mode ?? 'normal',
      exceptions,
    });

  it('counts found lines with the same address, IPv6 compared as addresses', () => {
    const result = run(undefined);
    expect([result.lines, result.expected, result.found, result.wrong, result.falseMatches]).toEqual([
      4, 2, 2, 0, 0,
    ]);
    expect(parityProblems(result)).toEqual([]);
  });

  it('reports another address, the reason of a miss, and a line the address of which is elsewhere', () => {
    const result = run('loose');
    expect(result.wrong).toBe(1);
    expect(result.results.find((r) => r.line.line === 20)!.outcome).toEqual({ kind: 'elsewhere' });
    expect(result.elsewhere).toBe(1);
    expect(result.results.find((r) => r.line.line === 22)!.outcome).toEqual({
      kind: 'missed',
      why: 'dropped by line filter |= " login from "',
    });
    expect(parityProblems(result)).toContain('demo (demo/loose): 1 lines with another address');
  });

  it('pins exceptions to the line content and refuses stale or foreign ones', () => {
    const text = 'Jan  1 00:00:08 box demo[1]: session of 203.0.113.4 ended';
    const ok = run('loose', [{ file: 'demo', line: 22, sha256: sha(text), reason: 'multi-line' }]);
    expect(ok.exceptions).toBe(1);
    expect(ok.exceptionProblems).toEqual([]);
    // one exception among five lines is more than 3 %
    expect(parityProblems(ok).some((p) => p.includes('exceptions exceed 3.0 %'))).toBe(true);
    const changed = run('loose', [{ file: 'demo', line: 22, sha256: sha('x'), reason: 'multi-line' }]);
    expect(changed.exceptionProblems[0]).toMatch(/demo:22 no longer matches the corpus line/);
    const elsewhere = run('loose', [
      {
        file: 'demo',
        line: 20,
        sha256: sha('Jan  1 00:00:07 box demo[1]: second line of a session'),
        reason: 'r',
      },
    ]);
    expect(elsewhere.exceptionProblems).toEqual([
      'demo: exception demo:20 is not needed (elsewhere): remove it',
    ]);
    const stale = run('strict', [{ file: 'demo', line: 10, sha256: sha('y'), reason: 'r' }]);
    expect(stale.exceptionProblems.join('\n')).toMatch(/demo:10 no longer matches/);
    const foreign = run('strict', [{ file: 'demo', line: 4, sha256: sha('z'), reason: 'r' }]);
    expect(foreign.exceptionProblems).toEqual(['demo: exception demo:4 is not a line of demo/strict']);
  });

  it('flags a non-match fail2ban asserts and a line two rules of one jail both count', () => {
    const loose = parseJailDefinition(jailYaml.replace('(?:bad|odd) login', '[a-z]+ login'), 'demo.yaml');
    const result = checkJail(corpusRules(loose, context), linesForMode(lines, undefined, 'normal'), {
      jail: 'demo',
      filter: 'demo',
      mode: 'normal',
      exceptions: [],
    });
    expect(result.falseMatches).toBe(2);
    const twice = checkJail([...rules, ...rules], linesForMode(lines, undefined, 'normal'), {
      jail: 'demo',
      filter: 'demo',
      mode: 'normal',
      exceptions: [],
    });
    expect(twice.double).toBe(2);
  });
});

describe('lokiban rules corpus', () => {
  const catalogue = join(dir, 'jails');
  mkdirSync(catalogue);
  writeFileSync(join(catalogue, 'demo.yaml'), `${jailYaml}fail2ban: { filter: demo, mode: strict }\n`);

  async function cli(...args: string[]) {
    let out = '';
    let err = '';
    const saved = { ...process.env };
    process.env.LOKIBAN_FAIL2BAN_CORPUS = logs;
    process.env.LOKIBAN_FAIL2BAN_FILTERS = filters;
    try {
      const program = new Command('lokiban').exitOverride();
      registerRulesCommands(program, { out: (t) => (out += t), err: (t) => (err += t) });
      await program.parseAsync(['rules', 'corpus', '--catalogue', catalogue, ...args], { from: 'user' });
    } finally {
      process.env = saved;
    }
    const code = Number(process.exitCode ?? 0);
    process.exitCode = undefined;
    return { out, err, code };
  }

  it("prints the table for the jail's own filter and mode, and passes at parity", async () => {
    const { out, code } = await cli();
    expect(code).toBe(0);
    expect(out.split('\n')[0]).toMatch(/^jail\s+filter\/mode\s+expected\s+found\s+recall\s+wrong\s+false/);
    expect(out).toMatch(/demo\s+demo\/strict\s+2\s+2\s+100\.0 %\s+0\s+0/);
  });

  it('--filter/--mode try another mode; --explain shows each miss with its pin', async () => {
    const { out, err, code } = await cli(
      '--jail',
      'demo',
      '--filter',
      'demo',
      '--mode',
      'loose',
      '--explain',
    );
    expect(code).toBe(1);
    expect(out).toContain('WRONG want 203.0.113.2, got 203.0.113.9');
    expect(out).toContain(
      `demo:22 sha256 ${sha('Jan  1 00:00:08 box demo[1]: session of 203.0.113.4 ended')}`,
    );
    expect(out).toContain('ELSEWHERE want 203.0.113.3');
    expect(err).toContain('FAIL demo (demo/loose): recall 50.0 % < 98.0 % (2/4)');
  });
});
