/** Doublings after which the delay stops growing even without a cap (2^20 × the first delay). */
const MAX_DOUBLINGS = 20;

/**
 * The delay before retry number `attempt` (1 = the first retry): `minMs` doubled per attempt up to
 * `maxMs`, then "equal jitter" — a uniform pick in [half, all] of it — so that many hosts or replicas
 * failing together do not retry in lockstep, and no delay exceeds `maxMs`
 * (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/).
 */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random: () => number): number {
  const doublings = Math.min(MAX_DOUBLINGS, Math.max(0, attempt - 1));
  const ceiling = Math.min(maxMs, minMs * 2 ** doublings);
  return Math.round(ceiling * (0.5 + random() * 0.5));
}
