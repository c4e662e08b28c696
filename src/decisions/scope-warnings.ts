import type { ScopeFallback } from '../domain/policy.js';

const DEFAULT_INTERVAL_MS = 60_000;
// Host labels come from alerts: bound the memory rather than let them grow it.
const MAX_KEYS = 1000;

/**
 * The policy's `onScopeFallback` for a running responder: a scope-origin jail that cannot name the
 * host bans on every host, and the operator must see that — once per jail, host and reason a minute,
 * since a 1,000-alert group without host labels would otherwise log 1,000 identical lines.
 */
export function scopeFallbackWarnings(
  log: { warn(object: object, message: string): void },
  options: { intervalMs?: number; now?: () => number } = {},
): (event: ScopeFallback) => void {
  const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  const now = options.now ?? Date.now;
  const lastWarned = new Map<string, number>();
  return (event) => {
    const key = `${event.jail}\n${event.originHost ?? ''}\n${event.reason}`;
    const at = now();
    if ((lastWarned.get(key) ?? -Infinity) > at - intervalMs) return;
    if (lastWarned.size >= MAX_KEYS) lastWarned.clear();
    lastWarned.set(key, at);
    log.warn(event, 'scope origin fell back to every host');
  };
}
