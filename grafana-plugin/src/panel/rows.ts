import type { BanRow } from '../shared/frames';

export type SortKey = 'ip' | 'jail' | 'hosts' | 'level' | 'createdAt' | 'expiresAt';
export interface Sort {
  key: SortKey;
  desc: boolean;
}

/** A key that orders addresses numerically: IPv4 before IPv6, 10.0.0.9 before 10.0.0.10. */
export function ipSortKey(ip: string): string {
  const [address = '', length = ''] = ip.split('/');
  if (!address.includes(':')) {
    return `4${address
      .split('.')
      .map((octet) => octet.padStart(3, '0'))
      .join('.')}/${length.padStart(3, '0')}`;
  }
  const [head = '', tail] = address.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...new Array(Math.max(0, zeros)).fill('0'), ...tailGroups];
  return `6${groups.map((group) => group.toLowerCase().padStart(4, '0')).join(':')}/${length.padStart(3, '0')}`;
}

/** Sorts a copy. Permanent bans (expiresAt null) come after every timed ban when ascending. */
export function sortRows(rows: readonly BanRow[], sort: Sort): BanRow[] {
  const direction = sort.desc ? -1 : 1;
  const keyed = rows.map((row) => ({ row, key: sortValue(row, sort.key) }));
  keyed.sort((a, b) => {
    const order = a.key < b.key ? -1 : a.key > b.key ? 1 : a.row.id - b.row.id;
    return order * direction;
  });
  return keyed.map((entry) => entry.row);
}

function sortValue(row: BanRow, key: SortKey): string | number {
  switch (key) {
    case 'ip':
      return ipSortKey(row.ip);
    case 'expiresAt':
      return row.expiresAt ?? Number.POSITIVE_INFINITY;
    case 'jail':
    case 'hosts':
      return row[key].toLowerCase();
    default:
      return row[key];
  }
}

export interface ParsedFilter {
  jail: string[];
  host: string[];
  text: string[];
}

/** `jail:sshd host:web1 203.0.113` → jail, host and free-text terms (all must match). */
export function parseFilter(input: string): ParsedFilter {
  const parsed: ParsedFilter = { jail: [], host: [], text: [] };
  for (const term of input.toLowerCase().split(/\s+/).filter(Boolean)) {
    if (term.startsWith('jail:') && term.length > 5) parsed.jail.push(term.slice(5));
    else if (term.startsWith('host:') && term.length > 5) parsed.host.push(term.slice(5));
    else parsed.text.push(term);
  }
  return parsed;
}

export function filterRows(rows: readonly BanRow[], input: string): readonly BanRow[] {
  const filter = parseFilter(input);
  if (filter.jail.length + filter.host.length + filter.text.length === 0) return rows;
  return rows.filter((row) => {
    const jail = row.jail.toLowerCase();
    if (filter.jail.some((wanted) => jail !== wanted)) return false;
    const hosts = row.hosts.toLowerCase().split(/,\s*/);
    if (filter.host.some((wanted) => !hosts.includes(wanted))) return false;
    if (filter.text.length === 0) return true;
    const haystack = `${row.ip} ${jail} ${row.hosts} ${row.summary}`.toLowerCase();
    return filter.text.every((term) => haystack.includes(term));
  });
}
