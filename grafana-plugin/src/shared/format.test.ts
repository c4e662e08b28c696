import { describe, expect, it } from 'vitest';
import { bucketFor, formatAgo, formatRemaining, offenceNumber, ordinal } from './format';

describe('format', () => {
  it('shows two units of remaining time', () => {
    expect(formatRemaining(0)).toBe('expired');
    expect(formatRemaining(42_500)).toBe('42s');
    expect(formatRemaining(12 * 60_000 + 9_000)).toBe('12m 09s');
    expect(formatRemaining(4 * 3_600_000 + 5 * 60_000)).toBe('4h 05m');
    expect(formatRemaining(2 * 86_400_000 + 3 * 3_600_000 + 1)).toBe('2d 3h');
  });

  it('picks a bucket giving at most 60 bars', () => {
    expect(bucketFor(30 * 60_000)).toBe('1m');
    expect(bucketFor(6 * 3_600_000)).toBe('15m');
    expect(bucketFor(24 * 3_600_000)).toBe('1h');
    expect(bucketFor(7 * 86_400_000)).toBe('3h');
    expect(bucketFor(365 * 86_400_000)).toBe('7d');
    expect(bucketFor(5 * 365 * 86_400_000)).toBe('30d');
  });

  it('says how long ago', () => {
    expect(formatAgo(30_000)).toBe('just now');
    expect(formatAgo(5 * 60_000)).toBe('5m ago');
    expect(formatAgo(3 * 86_400_000)).toBe('3d ago');
  });
});

describe('offences', () => {
  it('counts from one, as operators do', () => {
    expect([1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111].map(ordinal)).toEqual([
      '1st',
      '2nd',
      '3rd',
      '4th',
      '11th',
      '12th',
      '13th',
      '21st',
      '22nd',
      '23rd',
      '101st',
      '111th',
    ]);
    expect(offenceNumber(0)).toBe(1);
    expect(offenceNumber(2)).toBe(3);
  });
});
