/** Edit distance with adjacent transpositions (optimal string alignment): `shd` → `sshd` is 1. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The candidate closest to `name`, ties broken by the order of `candidates`; undefined when there are none. */
export function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = editDistance(name, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/**
 * Problems for jails in the configuration that nothing defines: neither a jail definition (the
 * catalogue, including the operator's own files there) nor one of the extra names (`manual`).
 */
export function unknownJailProblems(
  jails: readonly string[],
  defined: readonly string[],
  extra: readonly string[] = [],
): string[] {
  const known = [...new Set([...defined, ...extra])];
  return jails
    .filter((name) => !known.includes(name))
    .map((name) => {
      const suggestion = closest(name, defined);
      return `jails.${name}: unknown jail "${name}": no jail definition in the catalogue${suggestion ? `; did you mean "${suggestion}"?` : ''}`;
    });
}
