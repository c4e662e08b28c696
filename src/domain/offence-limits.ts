// What an offence may carry, whichever path produced it (webhook alert or Loki tail).

/** Longest summary / sample kept from an alert's annotations: enough for a panel, not a log dump. */
export const SUMMARY_MAX = 512;
export const SAMPLE_MAX = 2048;
/** Longest label value kept with an offence (labels are stored and shown, never executed). */
export const LABEL_VALUE_MAX = 256;
// Host labels choose firewall targets (scope `origin`); only plain host names can match one.
export const HOST_LABEL = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/;

/** Text without control characters, trimmed, cut to `max` characters; undefined when nothing is left. */
export function truncate(text: string | undefined, max: number): string | undefined {
  if (text === undefined) return undefined;
  // Control characters other than newline/tab would garble terminals and log viewers.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping them is the point
  const clean = text.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '').trim();
  if (clean.length === 0) return undefined;
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}
