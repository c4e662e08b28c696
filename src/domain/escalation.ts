import { MAX_BAN_SECONDS, PERMANENT } from './duration.js';
import type { IncrementSettings } from './jail.js';

/** fail2ban's default formula caps the exponent at 20 (`1<<(ban.Count if ban.Count<20 else 20)`). */
const MAX_EXPONENT = 20;

/**
 * Ban length in seconds for a ban preceded by `count` earlier bans inside the memory window,
 * following fail2ban 1.0.2's `bantime.increment` (server/jail.py `setBanTimeExtra`, server/observer.py
 * `incrBanTime`):
 * - a first ban (count 0) is the plain `bantime`: fail2ban only applies the formula when banCount > 0,
 *   so neither factor, maxtime nor rndtime touch it;
 * - default formula `max(bantime, bantime × factor × 2^min(count, 20))`;
 * - with multipliers `bantime × factor × multipliers[min(count, n-1)]`;
 * - then capped by `maxtime`, then plus `random × rndtime`;
 * - `bantime = -1` stays permanent;
 * - never longer than MAX_BAN_SECONDS, whatever the settings (the config check refuses such settings,
 *   this keeps a value no firewall can hold out of the store even so).
 * `random` returns [0, 1) and is injected so rndtime is testable.
 */
export function banDuration(
  bantime: number,
  count: number,
  increment: IncrementSettings,
  random: () => number,
): number {
  if (bantime === PERMANENT) return PERMANENT;
  if (!increment.enabled || count <= 0 || bantime <= 0) return Math.min(bantime, MAX_BAN_SECONDS);
  const { factor, multipliers, maxtime, rndtime } = increment;
  let seconds: number;
  if (multipliers.length > 0) {
    seconds = bantime * factor * multipliers[Math.min(count, multipliers.length - 1)]!;
  } else {
    seconds = Math.max(bantime, bantime * factor * 2 ** Math.min(count, MAX_EXPONENT));
  }
  // maxtime 0 means "not set" in our config (a zero cap would make every repeat ban instantaneous).
  if (maxtime > 0) seconds = Math.min(seconds, maxtime);
  if (rndtime > 0) seconds += random() * rndtime;
  return Math.min(seconds, MAX_BAN_SECONDS);
}

/** Epoch ms the ban ends, or null for permanent. Sub-second parts are rounded to whole ms. */
export function expiryFor(now: number, seconds: number): number | null {
  if (seconds === PERMANENT) return null;
  return now + Math.round(seconds * 1000);
}
