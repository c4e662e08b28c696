import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderTable } from '../../src/cli/table.js';
import { loadCatalogue } from '../../src/logql/catalogue.js';
import {
  CORPUS_TABLE_HEADERS,
  type CorpusLine,
  canonicalAddress,
  corpusJail,
  corpusTableRow,
  findCorpus,
  type JailCorpusResult,
  parityProblems,
  parseCorpus,
  runJailCorpus,
} from '../../src/logql/fail2ban-corpus.js';
import { resolveRenderContext } from '../../src/logql/render.js';
import { DEFAULT_CATALOGUE } from '../../src/logql/toolkit.js';

/**
 * Every shipped jail with a `fail2ban:` block against fail2ban's own labelled sample logs, read from
 * the installed Debian package (scripts/test-all.sh installs it). In CI a missing corpus fails.
 */
const location = findCorpus();
const catalogue = loadCatalogue(DEFAULT_CATALOGUE);
const context = resolveRenderContext(catalogue);
const mapped = catalogue.filter((definition) => definition.fail2ban);
const cache = new Map<string, CorpusLine[]>();
const results: JailCorpusResult[] = [];

afterAll(() => {
  if (results.length === 0) return;
  // console, not process.stdout: the test set-up sends stdout to a log file.
  console.log(`fail2ban corpus parity\n${renderTable(CORPUS_TABLE_HEADERS, results.map(corpusTableRow))}`);
});

/** fail2ban compares addresses as addresses (`2001:DB8::1` equals `2001:db8::1`), names as text. */
function sameForm(host: string | null): string | null {
  return host === null ? null : (canonicalAddress(host) ?? host);
}

/** A match labelled without `host` (a user-only match): take whatever fail2ban extracted. */
interface OracleRow {
  filter: string;
  line: string;
  host: string | null;
}

function oracleHost(oracle: OracleRow[], filter: string, line: string): string | null {
  return oracle.find((row) => row.filter === filter && row.line === line)?.host ?? null;
}

/** Jails fail2ban has no filter for. */
const NO_COUNTERPART = new Set(['recidive']);
/**
 * Jails that read a fail2ban filter's log but count another address on purpose, so they cannot be at
 * parity (docs/rules.md says why for each): sogo-auth counts the proxy-written X-Forwarded-For entry.
 */
const DIFFERS_BY_DESIGN = new Set(['sogo-auth']);

describe("fail2ban's sample corpus", () => {
  it('names a fail2ban counterpart for every jail that has one', () => {
    const missing = catalogue
      .filter((d) => !d.fail2ban && !NO_COUNTERPART.has(d.name) && !DIFFERS_BY_DESIGN.has(d.name))
      .map((d) => d.name);
    expect(missing, 'jails without a fail2ban: block').toEqual([]);
  });

  it('is installed', () => {
    if (!location && !process.env.CI) {
      console.warn(
        "fail2ban's sample logs are not installed (apt-get install fail2ban): corpus checks skipped",
      );
      return;
    }
    expect(location, "fail2ban's sample logs (dpkg -L fail2ban | grep tests/files/logs$)").toBeDefined();
  });

  it("is parsed exactly as fail2ban's own sample test reads it, for every filter", () => {
    if (!location) return;
    const filters = readdirSync(location.filters)
      .filter((file) => file.endsWith('.conf') && file !== 'common.conf')
      .map((file) => file.replace(/\.conf$/, ''))
      .filter((filter) => existsSync(join(location.logs, filter)));
    expect(filters.length).toBeGreaterThan(50);
    // fail2ban's samplestestcase.py, instrumented: every line it feeds a filter, under which options,
    // and the address the real filter extracted.
    const oracle = execFileSync(
      '/usr/bin/python3',
      [join(import.meta.dirname, '..', 'support', 'fail2ban-samples-oracle.py'), ...filters],
      {
        encoding: 'utf8',
        maxBuffer: 64 << 20,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
      .trim()
      .split('\n')
      .map((row) => {
        const { filter, options, line, host } = JSON.parse(row) as OracleRow & { options: string };
        return {
          filter,
          options: JSON.parse(options) as Record<string, unknown>,
          line,
          host: sameForm(host),
        };
      });
    const ours = filters.flatMap((filter) =>
      parseCorpus(location.logs, filter).flatMap((line) =>
        line.options.map((options) => ({
          filter,
          options: Object.fromEntries(Object.entries(options).filter(([key]) => !key.startsWith('test.'))),
          line: line.text,
          // fail2ban's own test passes, so its filter counts exactly the lines labelled as matches.
          host: line.expect.match
            ? sameForm(line.expect.host ?? oracleHost(oracle, filter, line.text))
            : null,
        })),
      ),
    );
    expect(ours).toEqual(oracle);
  });

  describe.skipIf(!location).each(mapped.map((definition) => [definition.name, definition] as const))(
    'jail %s',
    (_name, definition) => {
      it('catches what fail2ban catches, with the same address, and nothing fail2ban does not', () => {
        const result = runJailCorpus(corpusJail(definition)!, context, location!, cache);
        results.push(result);
        expect(parityProblems(result)).toEqual([]);
      });
    },
  );
});
