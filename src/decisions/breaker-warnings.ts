import { Counter, Gauge, type Registry } from 'prom-client';
import type { BreakerStatus, BreakerTrip } from '../domain/breaker.js';

const DEFAULT_INTERVAL_MS = 60_000;

/**
 * The policy's `onBreakerRefuse` for a running responder: counts every refusal by scope, and warns
 * once per scope a minute, since a storm refuses thousands of alerts a minute.
 */
export function breakerRefusals(
  log: { warn(object: object, message: string): void },
  registry: Registry,
  options: { intervalMs?: number; now?: () => number } = {},
): (trip: BreakerTrip) => void {
  const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  const now = options.now ?? Date.now;
  const refused = new Counter({
    name: 'lokiban_breaker_refused_total',
    help: 'Alerts whose new ban the circuit breaker refused (outcome ignored-breaker), by scope (global or a jail).',
    labelNames: ['scope'] as const,
    registers: [registry],
  });
  // Scopes are `global` and configured jail names: bounded by the configuration.
  const lastWarned = new Map<string, number>();
  return (trip) => {
    refused.inc({ scope: trip.scope });
    const at = now();
    if ((lastWarned.get(trip.scope) ?? -Infinity) > at - intervalMs) return;
    lastWarned.set(trip.scope, at);
    log.warn(
      { scope: trip.scope, limit: trip.limit, jail: trip.jail },
      'circuit breaker open: new bans refused (ignored-breaker); raise safety.maxNewBansPerMinute or the jail’s maxNewBansPerMinute if this is a real attack',
    );
  };
}

/** `lokiban_breaker_open{scope}`: 1 while the breaker refused a new ban in that scope in the last minute. */
export function breakerOpenGauge(registry: Registry, status: (now: number) => BreakerStatus): void {
  new Gauge({
    name: 'lokiban_breaker_open',
    help: 'Whether the circuit breaker refused a new ban in the last minute (1), by scope.',
    labelNames: ['scope'] as const,
    registers: [registry],
    collect() {
      this.reset();
      this.set({ scope: 'global' }, 0);
      for (const open of status(Date.now()).open) this.set({ scope: open.scope }, 1);
    },
  });
}
