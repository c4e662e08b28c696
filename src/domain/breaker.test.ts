import { describe, expect, it } from 'vitest';
import { type BreakerTrip, CircuitBreaker } from './breaker.js';

describe('CircuitBreaker', () => {
  it('admits up to the global limit per rolling minute, then refuses until the window has room', () => {
    const trips: BreakerTrip[] = [];
    const breaker = new CircuitBreaker({ global: 3, perJail: {} }, (trip) => trips.push(trip));
    expect([0, 1, 2, 3].map((s) => breaker.admit('sshd', s * 1000))).toEqual([true, true, true, false]);
    expect(trips).toEqual([{ scope: 'global', limit: 3, jail: 'sshd' }]);
    expect(breaker.status(3000)).toMatchObject({ lastMinute: 3, open: [{ scope: 'global', refused: 1 }] });
    // The first admission leaves the window 60 s later.
    expect(breaker.admit('sshd', 60_001)).toBe(true);
    expect(breaker.status(63_001)).toMatchObject({ open: [], refusedTotal: 1 });
  });

  it('applies a jail’s own limit without holding the other jails', () => {
    const breaker = new CircuitBreaker({ global: 0, perJail: { nginx: 1 } });
    expect(breaker.admit('nginx', 0)).toBe(true);
    expect(breaker.admit('nginx', 1)).toBe(false);
    expect(breaker.admit('sshd', 2)).toBe(true);
    expect(breaker.status(3).open).toMatchObject([{ scope: 'nginx', limit: 1, refused: 1 }]);
  });
});
