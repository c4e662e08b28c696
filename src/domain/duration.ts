const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** Sentinel for fail2ban's `bantime = -1`: a ban that never expires. */
export const PERMANENT = -1;

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
