import { describe, expect, it } from 'vitest';
import { formatDuration, PERMANENT, parseDuration } from '../../src/domain/duration.js';

describe('parseDuration', () => {
  it.each([
    ['600', 600],
    [600, 600],
    ['30s', 30],
    ['10m', 600],
    ['1h', 3600],
    ['1d', 86_400],
    ['1w', 604_800],
    ['1h30m', 5400],
    ['-1', PERMANENT],
    [-1, PERMANENT],
  ])('%s → %s seconds', (input, seconds) => {
    expect(parseDuration(input)).toEqual({ seconds });
  });

  it.each(['', '10x', 'm', '1.5h', '-5', '10m garbage', '1h-1m'])('rejects %j', (input) => {
    expect(parseDuration(input)).toHaveProperty('error');
  });

  it('rejects fractional and negative numbers other than -1', () => {
    expect(parseDuration(1.5)).toHaveProperty('error');
    expect(parseDuration(-2)).toHaveProperty('error');
  });
});

describe('formatDuration', () => {
  it('renders the largest units first', () => {
    expect(formatDuration(5400)).toBe('1h30m');
    expect(formatDuration(604_800)).toBe('1w');
    expect(formatDuration(PERMANENT)).toBe('permanent');
    expect(formatDuration(0)).toBe('0s');
  });
});
