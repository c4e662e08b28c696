import { describe, expect, it } from 'vitest';
import { SlidingWindows } from './windows.js';

const rule = { findtimeMs: 600_000, maxretry: 5 };

describe('SlidingWindows', () => {
  it('crosses at the maxretry-th line inside findtime, once per episode', () => {
    const windows = new SlidingWindows<string>(100);
    const results = [0, 1000, 2000, 3000, 4000, 5000, 6000].map((t) => windows.add('k', t, rule, 'm'));
    expect(results.map((r) => r.crossing?.startsAt)).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      4000,
      undefined,
      undefined,
    ]);
  });

  it('uses the range rule (t - findtime, t]: lines exactly findtime apart do not count together', () => {
    const windows = new SlidingWindows<string>(100);
    const times = [0, 150_000, 300_000, 450_000, 600_000];
    const last = times.map((t) => windows.add('k', t, rule, 'm')).at(-1)!;
    expect(last.crossing).toBeUndefined();
    expect(windows.add('k', 600_001, rule, 'm').crossing?.startsAt).toBe(600_001);
  });

  it('ends the episode when the maxretry-th newest line leaves the window, and a new burst crosses again', () => {
    const windows = new SlidingWindows<string>(100);
    for (const t of [0, 1, 2, 3, 4]) windows.add('k', t * 1000, rule, 'm');
    // Still inside the episode: another line extends it, no second crossing.
    expect(windows.add('k', 100_000, rule, 'm')).toEqual({});
    // The episode's end is the 5th newest line (1000) + findtime.
    expect(windows.sweep(600_999)).toEqual([]);
    expect(windows.sweep(601_000)).toEqual([{ key: 'k', meta: 'm', startsAt: 4000, endsAt: 601_000 }]);
    const burst = [650_000, 650_001, 650_002, 650_003].map((t) => windows.add('k', t, rule, 'm'));
    // 100_000 is still in the window: the fourth new line is the fifth inside findtime.
    expect(burst.map((r) => r.crossing?.startsAt)).toEqual([undefined, undefined, undefined, 650_003]);
  });

  it('reports an ended episode when the next line comes after its end', () => {
    const windows = new SlidingWindows<string>(100);
    for (const t of [0, 1, 2, 3, 4]) windows.add('k', t * 1000, rule, 'm');
    const later = windows.add('k', 2_000_000, rule, 'm');
    expect(later.ended).toEqual({ key: 'k', meta: 'm', startsAt: 4000, endsAt: 600_000 });
    expect(later.crossing).toBeUndefined();
  });

  it('keeps each key to maxretry timestamps and evicts the least recently seen key beyond the cap', () => {
    const windows = new SlidingWindows<number>(3);
    windows.add('a', 0, rule, 1);
    windows.add('b', 0, rule, 2);
    windows.add('c', 0, rule, 3);
    windows.add('a', 1, rule, 1);
    windows.add('d', 0, rule, 4);
    expect(windows.size).toBe(3);
    expect(windows.evictions).toBe(1);
    // b was the least recently seen: its count starts again from nothing.
    for (const t of [1, 2, 3]) windows.add('b', t, rule, 2);
    expect(windows.add('b', 4, rule, 2).crossing).toBeUndefined();
    expect(windows.add('b', 5, rule, 2).crossing?.startsAt).toBe(5);
  });

  it('holds a flood of distinct addresses in bounded memory', () => {
    const windows = new SlidingWindows<null>(1000);
    for (let i = 0; i < 50_000; i++) windows.add(`k${i}`, i, rule, null);
    expect(windows.size).toBe(1000);
    expect(windows.evictions).toBe(49_000);
  });

  it('counts an out-of-order line where it belongs', () => {
    const windows = new SlidingWindows<string>(100);
    for (const t of [0, 1000, 3000, 4000]) windows.add('k', t, rule, 'm');
    expect(windows.add('k', 2000, rule, 'm').crossing?.startsAt).toBe(4000);
  });
});
