// What an offence may carry, whichever path produced it (webhook alert or Loki tail).

/** Longest summary / sample kept from an alert's annotations: enough for a panel, not a log dump. */
export const SUMMARY_MAX = 512;
export const SAMPLE_MAX = 2048;
/** Longest label value kept with an offence (labels are stored and shown, never executed). */
export const LABEL_VALUE_MAX = 256;
// Host labels choose firewall targets (scope `origin`); only plain host names can match one.
export const HOST_LABEL = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/;
