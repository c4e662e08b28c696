import { describe, expect, it } from 'vitest';
import { MAX_BAN_SECONDS } from '../../src/domain/duration.js';
import { banDuration, expiryFor } from '../../src/domain/escalation.js';
import { incrementSettings } from '../support/jail.js';

const increment = incrementSettings({ memory: 2_592_000 });
const noRandom = () => 0;

describe('banDuration (fail2ban 1.0.2 bantime.increment)', () => {
  it('reproduces the fail2ban vector for bantime 600 and maxtime 1w', () => {
    const durations = Array.from({ length: 13 }, (_, count) => banDuration(600, count, increment, noRandom));
    expect(durations).toEqual([
      600, 1200, 2400, 4800, 9600, 19_200, 38_400, 76_800, 153_600, 307_200, 604_800, 604_800, 604_800,
    ]);
  });

  it('never goes past the maximum ban, whatever the settings', () => {
    const huge = { ...increment, maxtime: 0, factor: 1000, rndtime: 10 };
    expect(banDuration(2_000_000_000, 5, huge, () => 0.99)).toBe(MAX_BAN_SECONDS);
    expect(banDuration(4000 * 604_800, 0, increment, noRandom)).toBe(MAX_BAN_SECONDS);
    expect(banDuration(-1, 5, huge, noRandom)).toBe(-1);
  });

  it('caps the exponent at 20 like fail2ban', () => {
    const uncapped = { ...increment, maxtime: 0 };
    expect(banDuration(1, 20, uncapped, noRandom)).toBe(2 ** 20);
    expect(banDuration(1, 35, uncapped, noRandom)).toBe(2 ** 20);
  });

  it('applies the factor but never goes below bantime with the default formula', () => {
    expect(banDuration(600, 1, { ...increment, factor: 3 }, noRandom)).toBe(3600);
    expect(banDuration(600, 1, { ...increment, factor: 0.25 }, noRandom)).toBe(600);
  });

  it('leaves a first ban at the plain bantime (fail2ban only applies the formula when count > 0)', () => {
    expect(banDuration(600, 0, { ...increment, factor: 5, rndtime: 100 }, () => 0.9)).toBe(600);
  });

  it('uses multipliers[min(count, n-1)] times the factor when multipliers are set', () => {
    const settings = { ...increment, multipliers: [1, 5, 30], factor: 2, maxtime: 0 };
    expect(banDuration(60, 1, settings, noRandom)).toBe(600);
    expect(banDuration(60, 2, settings, noRandom)).toBe(3600);
    expect(banDuration(60, 9, settings, noRandom)).toBe(3600);
  });

  it('caps multipliers by maxtime too', () => {
    expect(banDuration(600, 2, { ...increment, multipliers: [1, 2, 2000] }, noRandom)).toBe(604_800);
  });

  it('adds random × rndtime after the cap', () => {
    expect(banDuration(600, 20, { ...increment, rndtime: 1000 }, () => 0.5)).toBe(604_800 + 500);
    expect(banDuration(600, 1, { ...increment, rndtime: 100 }, () => 0.25)).toBe(1225);
  });

  it('keeps a permanent bantime permanent', () => {
    expect(banDuration(-1, 0, increment, noRandom)).toBe(-1);
    expect(banDuration(-1, 7, increment, noRandom)).toBe(-1);
  });

  it('does not escalate when increment is disabled', () => {
    expect(banDuration(600, 5, { ...increment, enabled: false }, noRandom)).toBe(600);
  });
});

describe('expiryFor', () => {
  it('turns seconds into an epoch-ms expiry, permanent into null', () => {
    expect(expiryFor(1_000, 600)).toBe(601_000);
    expect(expiryFor(1_000, 1.2345)).toBe(2_235);
    expect(expiryFor(1_000, -1)).toBeNull();
  });
});
