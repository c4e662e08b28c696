import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { banDuration } from '../../src/domain/escalation.js';
import { incrementSettings } from '../support/jail.js';

/**
 * Compares banDuration with the real thing: Debian's fail2ban 1.0.2 Python package (installed by
 * scripts/test-all.sh), whose Jail.setBanTimeExtra compiles bantime.increment into `evformula`.
 * fail2ban's random.random is pinned to 0.5 so rndtime is comparable.
 */
const PYTHON = '/usr/bin/python3';
const SCRIPT = `
import json, random, sys
random.random = lambda: 0.5
from fail2ban.server.jail import Jail
from fail2ban.server.observer import ObserverThread
case = json.loads(sys.argv[1])
jail = Jail('parity', backend='polling')
jail.setBanTimeExtra('increment', 'true')
for key, value in case['extra'].items():
    jail.setBanTimeExtra(key, value)
formula = jail.getBanTimeExtra()['evformula']
print(json.dumps([formula(ObserverThread.BanTimeIncr(case['bantime'], count)) for count in case['counts']]))
`;

import type { IncrementSettings } from '../../src/domain/jail.js';

function fail2ban(bantime: number, extra: Record<string, string>, counts: number[]): number[] {
  const output = execFileSync(PYTHON, ['-c', SCRIPT, JSON.stringify({ bantime, extra, counts })], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return JSON.parse(output) as number[];
}

const base = incrementSettings({ maxtime: 0 });
// fail2ban only evaluates the formula for an IP with earlier bans (observer.py incrBanTime: `if banCount > 0`).
const counts = Array.from({ length: 26 }, (_, i) => i + 1);

const cases: Array<{
  name: string;
  bantime: number;
  extra: Record<string, string>;
  ours: Partial<IncrementSettings>;
}> = [
  {
    name: 'the default formula, maxtime 1w',
    bantime: 600,
    extra: { maxtime: '1w' },
    ours: { maxtime: 604_800 },
  },
  { name: 'no maxtime', bantime: 60, extra: {}, ours: {} },
  {
    name: 'factor 2.5, maxtime 1d',
    bantime: 600,
    extra: { factor: '2.5', maxtime: '1d' },
    ours: { factor: 2.5, maxtime: 86_400 },
  },
  {
    name: 'factor 0.25 never below bantime',
    bantime: 3600,
    extra: { factor: '0.25' },
    ours: { factor: 0.25 },
  },
  {
    name: 'multipliers',
    bantime: 60,
    extra: { multipliers: '1 5 30 60 300 720 1440 2880' },
    ours: { multipliers: [1, 5, 30, 60, 300, 720, 1440, 2880] },
  },
  {
    name: 'multipliers with factor and maxtime',
    bantime: 600,
    extra: { multipliers: '1 2 4 8 16 32 64', factor: '3', maxtime: '5d' },
    ours: { multipliers: [1, 2, 4, 8, 16, 32, 64], factor: 3, maxtime: 432_000 },
  },
  {
    name: 'rndtime after the cap',
    bantime: 600,
    extra: { maxtime: '1w', rndtime: '300' },
    ours: { maxtime: 604_800, rndtime: 300 },
  },
];

let available = true;
try {
  execFileSync(PYTHON, ['-c', 'import fail2ban.server.jail'], { stdio: 'ignore' });
} catch {
  available = false;
}

describe.skipIf(!available)('escalation parity with fail2ban 1.0.2', () => {
  it.each(cases)('$name', ({ bantime, extra, ours }) => {
    const expected = fail2ban(bantime, extra, counts);
    const actual = counts.map((count) => banDuration(bantime, count, { ...base, ...ours }, () => 0.5));
    expect(actual).toEqual(expected);
  });

  it('gives the documented vector for bantime 600 and maxtime 1w', () => {
    expect(fail2ban(600, { maxtime: '1w' }, counts.slice(0, 11))).toEqual([
      1200, 2400, 4800, 9600, 19_200, 38_400, 76_800, 153_600, 307_200, 604_800, 604_800,
    ]);
  });
});
