const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** Sentinel for fail2ban's `bantime = -1`: a ban that never expires. */
export const PERMANENT = -1;

/**
 * The longest ban lokiban accepts anywhere (config, API, escalation): 2³¹−1 s, about 68 years. Every
 * backend holds it — nftables and templates take it as is, ipset (at most 2,147,483 s) is capped and
 * re-asserted by the reconciler — and it stays a safe integer in every command. Longer is `-1`.
 */
export const MAX_BAN_SECONDS = 2_147_483_647;

/** Why a ban length cannot be accepted, or undefined when it can. */
export function banLengthError(seconds: number): string | undefined {
  if (seconds === PERMANENT || seconds <= MAX_BAN_SECONDS) return undefined;
  return `${formatDuration(seconds)} is longer than the maximum ban of ${MAX_BAN_SECONDS}s (${formatDuration(MAX_BAN_SECONDS)}, about 68 years); use -1 for a permanent ban`;
}

/**
 * Parses fail2ban-style durations into whole seconds: `600`, `30s`, `10m`, `1h`, `1d`, `1w`,
 * and compounds such as `1h30m`. `-1` means permanent. Returns an error message instead of throwing
 * so the config loader can attach the YAML path.
 */
export function parseDuration(input: string | number): { seconds: number } | { error: string } {
  if (typeof input === 'number') {
    if (input === PERMANENT) return { seconds: PERMANENT };
    if (!Number.isSafeInteger(input) || input < 0)
      return { error: `expected whole seconds ≥ 0 or -1, got ${input}` };
    return { seconds: input };
  }
  const text = input.trim();
  if (text === '-1') return { seconds: PERMANENT };
  if (/^\d+$/.test(text)) return parseDuration(Number(text));
  const parts = [...text.matchAll(/(\d+)\s*([smhdw])/g)];
  const consumed = parts.map((p) => p[0]).join('');
  if (parts.length === 0 || consumed.replace(/\s/g, '') !== text.replace(/\s/g, '')) {
    return { error: `invalid duration "${input}": use seconds or 30s, 10m, 1h, 1d, 1w` };
  }
  let seconds = 0;
  for (const [, amount, unit] of parts) seconds += Number(amount) * UNIT_SECONDS[unit!]!;
  if (!Number.isSafeInteger(seconds)) return { error: `duration "${input}" is too large` };
  return { seconds };
}

/** Renders seconds the way an operator writes them: `1w`, `2h30m`, `permanent`. */
export function formatDuration(seconds: number): string {
  if (seconds === PERMANENT) return 'permanent';
  if (seconds === 0) return '0s';
  let rest = seconds;
  let out = '';
  for (const unit of ['w', 'd', 'h', 'm', 's']) {
    const size = UNIT_SECONDS[unit]!;
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out;
}
