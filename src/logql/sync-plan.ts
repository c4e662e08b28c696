/** What `rules sync` does to one resource (a rule group, the contact point, the policy route). */
export interface SyncChange {
  kind: 'create' | 'update' | 'delete' | 'unchanged' | 'foreign';
  /** e.g. `group lokiban-sshd`, `contact point lokiban`. */
  resource: string;
  /** The resource as the server has it and as lokiban wants it (YAML text, secrets masked). */
  before?: string;
  after?: string;
  /** Makes the change; absent for unchanged and foreign resources. */
  apply?: () => Promise<void>;
}

/** A line diff (longest common subsequence): ` ` kept, `-` only before, `+` only after. */
export function lineDiff(before: string, after: string): string[] {
  const a = before === '' ? [] : before.replace(/\n$/, '').split('\n');
  const b = after === '' ? [] : after.replace(/\n$/, '').split('\n');
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push(`  ${a[i]}`);
      i++;
      j++;
    } else if (i < a.length && (j === b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      out.push(`- ${a[i]}`);
      i++;
    } else {
      out.push(`+ ${b[j]}`);
      j++;
    }
  }
  return out;
}

/** Only the changed lines and `context` lines around them, `…` where lines are left out. */
export function compactDiff(lines: string[], context = 2): string[] {
  const keep = lines.map((line) => !line.startsWith('  '));
  const out: string[] = [];
  let skipped = false;
  lines.forEach((line, index) => {
    const near = keep.slice(Math.max(0, index - context), index + context + 1).some(Boolean);
    if (near) {
      if (skipped) out.push('  …');
      skipped = false;
      out.push(line);
    } else {
      skipped = true;
    }
  });
  if (skipped) out.push('  …');
  return out;
}

const SYMBOL: Record<SyncChange['kind'], string> = {
  create: '+',
  update: '~',
  delete: '-',
  unchanged: '=',
  foreign: ' ',
};

/** The report `rules sync` prints: one line per resource, the diff under each change when asked. */
export function describeChanges(changes: SyncChange[], options: { diff: boolean }): string[] {
  const lines: string[] = [];
  for (const change of changes) {
    const label =
      change.kind === 'foreign'
        ? `${change.resource} (not lokiban's, left alone)`
        : `${change.resource} (${change.kind})`;
    lines.push(`  ${SYMBOL[change.kind]} ${label}`);
    if (options.diff && (change.kind === 'create' || change.kind === 'update' || change.kind === 'delete')) {
      const diff = compactDiff(lineDiff(change.before ?? '', change.after ?? ''));
      lines.push(...diff.map((line) => `      ${line}`));
    }
  }
  return lines;
}

/** Applies the changes in order; the first failure stops the run (the report says what was done). */
export async function applyChanges(changes: SyncChange[]): Promise<number> {
  let applied = 0;
  for (const change of changes) {
    if (!change.apply) continue;
    await change.apply();
    applied++;
  }
  return applied;
}
