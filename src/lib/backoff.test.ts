import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';

describe('backoffDelay', () => {
  it('doubles from the first delay per attempt and stops at the cap', () => {
    const top = () => 1 - Number.EPSILON;
    expect([1, 2, 3, 4, 5, 6].map((attempt) => backoffDelay(attempt, 1000, 10_000, top))).toEqual([
      1000, 2000, 4000, 8000, 10_000, 10_000,
    ]);
  });

  it('jitters between half and all of the delay, never past the cap', () => {
    expect(backoffDelay(3, 1000, 10_000, () => 0)).toBe(2000);
    expect(backoffDelay(3, 1000, 10_000, () => 0.5)).toBe(3000);
    expect(backoffDelay(50, 1000, 10_000, () => 0.999)).toBeLessThanOrEqual(10_000);
  });

  it('treats attempt 0 like the first retry and does not overflow for huge attempts', () => {
    expect(backoffDelay(0, 500, 60_000, () => 0)).toBe(250);
    expect(Number.isFinite(backoffDelay(10_000, 500, Number.MAX_SAFE_INTEGER, () => 0))).toBe(true);
  });
});
