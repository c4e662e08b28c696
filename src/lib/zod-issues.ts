import type { z } from 'zod';

/** `alerts[0].labels.ip` from a zod/JSON path: how operators read paths in a payload or a file. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number' || (typeof part === 'string' && /^\d+$/.test(part)))
      out += `[${String(part)}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(root)' : out;
}

/** One line per issue: `path: message`, unknown keys named. */
export function formatIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((key) => `"${key}"`).join(', ');
    return `${formatPath(issue.path)}: unknown key${issue.keys.length > 1 ? 's' : ''} ${keys}`;
  }
  return `${formatPath(issue.path)}: ${issue.message}`;
}

/** The first `limit` issues as lines, and how many more there were. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], limit = Infinity): string[] {
  const lines = issues.slice(0, limit).map(formatIssue);
  const more = issues.length - lines.length;
  return more > 0 ? [...lines, `and ${more} more`] : lines;
}
