import type { HostConfig } from '../../config/schema.js';
import type { Family } from '../../domain/ip.js';
import { type Command, safeElement, safeNetwork } from '../command.js';
import type { BanElement, EnforcementBatch, PresentElement } from '../port.js';
import { type Backend, normalizeBatch, type SetupStep } from './backend.js';
import { NFT_HELPER_VERSION, nftHelperScript } from './nft-helper.js';

export const NFT_TABLE = 'lokiban';

/** Which set an element lives in: single addresses in a hash set, prefixes in an interval set. */
export type NftSetKind = 'addr' | 'net';

export const NFT_SETS: Record<NftSetKind, Record<Family, string>> = {
  addr: { 4: 'banned4', 6: 'banned6' },
  net: { 4: 'banned4net', 6: 'banned6net' },
};

const SET_DEFS: Array<{ name: string; type: string; flags: string }> = [
  { name: NFT_SETS.addr[4], type: 'ipv4_addr', flags: 'timeout' },
  { name: NFT_SETS.addr[6], type: 'ipv6_addr', flags: 'timeout' },
  { name: NFT_SETS.net[4], type: 'ipv4_addr', flags: 'interval, timeout' },
  { name: NFT_SETS.net[6], type: 'ipv6_addr', flags: 'interval, timeout' },
];

/** Elements per `add element` statement; keeps each line a reasonable size for nft's parser. */
const CHUNK = 2_000;

export function setKindOf(ip: string): NftSetKind {
  return ip.includes('/') ? 'net' : 'addr';
}

/**
 * Table `inet lokiban` with four sets and drop rules in `input` and `forward` (Docker-published
 * ports are forwarded, not input). Priority -10 runs before the usual filter chains. Flushing and
 * re-adding the chains' rules inside the same transaction keeps setup idempotent.
 *
 * Why two kinds of sets: CIDR bans need `flags interval` (a set without it silently refuses
 * prefixes), but nft 1.0.6 deletes from an interval set in time proportional to the set's size —
 * measured 10 s to replace 1,000 elements in a 15,000-element interval set, 0.15 s for 5,000 in a
 * hash set. Single addresses, the bulk of all bans, therefore live in hash sets (`flags timeout`);
 * prefixes (IPv6 /64s, manual CIDR bans) in interval sets. Auto-merge stays off so every ban keeps
 * its own timeout.
 */
export function nftSetupScript(): string {
  const t = `inet ${NFT_TABLE}`;
  return [
    `add table ${t}`,
    ...SET_DEFS.map((s) => `add set ${t} ${s.name} { type ${s.type}; flags ${s.flags}; }`),
    `add chain ${t} input { type filter hook input priority -10; policy accept; }`,
    `add chain ${t} forward { type filter hook forward priority -10; policy accept; }`,
    `flush chain ${t} input`,
    `flush chain ${t} forward`,
    ...['input', 'forward'].flatMap((chain) =>
      SET_DEFS.map(
        (s) => `add rule ${t} ${chain} ${s.type === 'ipv4_addr' ? 'ip' : 'ip6'} saddr @${s.name} drop`,
      ),
    ),
    '',
  ].join('\n');
}

function statements(verb: 'add' | 'delete', set: string, items: string[]): string[] {
  const lines: string[] = [];
  for (let i = 0; i < items.length; i += CHUNK) {
    lines.push(`${verb} element inet ${NFT_TABLE} ${set} { ${items.slice(i, i + CHUNK).join(', ')} }`);
  }
  return lines;
}

/**
 * nft's parser refuses a time field of more than 8 digits ("value too large" for `100000000s`, measured
 * with nft 1.0.6) although the kernel holds far longer timeouts, so long timeouts are written in days,
 * hours, minutes and seconds: `24855d3h14m7s` is the maximum ban, 2³¹−1 s.
 */
const NFT_FIELD_LIMIT = 100_000_000;
export function nftTimeout(seconds: number): string {
  if (seconds < NFT_FIELD_LIMIT) return `${seconds}s`;
  const parts: string[] = [];
  let rest = seconds;
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  if (rest > 0) parts.push(`${rest}s`);
  return parts.join('');
}

function withTimeout(element: BanElement): string {
  return element.timeoutSeconds === null
    ? element.ip
    : `${element.ip} timeout ${nftTimeout(element.timeoutSeconds)}`;
}

/**
 * The transaction for one batch, sent on stdin to `nft -f -`.
 *
 * `add element` leaves an existing element's timeout alone, so a ban is extended by delete + add. nft
 * 1.0.6 has no `destroy element`, and `delete` of a missing element fails the whole transaction. In the
 * hash sets each touched element is therefore first added with a 1 s timeout (a no-op if it is there),
 * then deleted, then added for real: idempotent whatever the host holds.
 *
 * That trick breaks in interval sets: nft checks overlaps against its cache, and the no-op add leaves a
 * duplicate there that makes a later overlapping add fail. Prefix elements are therefore written
 * against the host's `present` prefixes: plain deletes of what is there, then adds. Prefixes never
 * overlap each other in the set (see DesiredState); addresses in the hash sets may sit inside a prefix.
 */
export interface ApplyOptions {
  ensureSetup?: boolean;
  /** True when the address is certainly not in its set (the enforcer's record since its last read). */
  knownAbsent?: (ip: string) => boolean;
}

export function nftApplyScript(
  batch: EnforcementBatch,
  present?: readonly PresentElement[],
  opts: ApplyOptions = { ensureSetup: true },
): string {
  const { add, remove } = normalizeBatch(batch);
  const adds = add.map(safeElement);
  const removes = remove.map((r) => ({ ip: safeNetwork(r.ip, r.family), family: r.family }));
  const there = new Set((present ?? []).map((p) => p.ip));
  const absent = opts.knownAbsent ?? (() => false);
  // The first batch on a connection (and the retry after a failure) carries the idempotent setup, so
  // a host that lost its ruleset (reboot, flush) gets table, sets and drop rules back with its bans.
  const lines = opts.ensureSetup === false ? [] : [nftSetupScript().trimEnd()];
  for (const family of [4, 6] as const) {
    for (const kind of ['addr', 'net'] as const) {
      const set = NFT_SETS[kind][family];
      const mine = (e: { ip: string; family: Family }) => e.family === family && setKindOf(e.ip) === kind;
      const touched = [...adds, ...removes].filter(mine).map((e) => e.ip);
      if (touched.length === 0) continue;
      if (kind === 'net') {
        // Without `present` (dry-run: nothing can be read) every touched prefix is shown as deleted.
        lines.push(...statements('delete', set, present ? touched.filter((ip) => there.has(ip)) : touched));
      } else {
        // Elements known to be absent need no delete: a plain add is enough, and a transaction without
        // deletes commits in a third of the time (no wait for the kernel's RCU grace period).
        const unsure = touched.filter((ip) => !absent(ip));
        lines.push(
          ...statements(
            'add',
            set,
            unsure.map((ip) => `${ip} timeout 1s`),
          ),
        );
        lines.push(...statements('delete', set, unsure));
      }
      lines.push(...statements('add', set, adds.filter(mine).map(withTimeout)));
    }
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

type NftValue = string | { prefix: { addr: string; len: number } } | { range: unknown };
type NftElem = NftValue | { elem: { val: NftValue; timeout?: number; expires?: number } };

function valueText(value: NftValue): string | undefined {
  if (typeof value === 'string') return value;
  if ('prefix' in value) return `${value.prefix.addr}/${value.prefix.len}`;
  // Ranges are never written by lokiban; they are left for the operator.
  return undefined;
}

function normalizePresent(text: string): string {
  try {
    return safeNetwork(text);
  } catch {
    return text;
  }
}

/** Reads `nft -j list set inet lokiban <set>` output. */
export function parseNftListSet(json: string): PresentElement[] {
  const doc = JSON.parse(json) as { nftables?: Array<{ set?: { type?: string; elem?: NftElem[] } }> };
  const set = doc.nftables?.find((entry) => entry.set)?.set;
  if (!set) throw new Error('nft output holds no set');
  const family: Family = set.type === 'ipv6_addr' ? 6 : 4;
  const elements: PresentElement[] = [];
  for (const item of set.elem ?? []) {
    const wrapped = typeof item === 'object' && 'elem' in item ? item.elem : undefined;
    const text = valueText(wrapped ? wrapped.val : (item as NftValue));
    if (text === undefined) continue;
    elements.push({
      // nft prints a full-length prefix as the bare address; canonical text matches the store.
      ip: normalizePresent(text),
      family,
      timeoutSeconds: wrapped?.timeout === undefined ? null : (wrapped.expires ?? wrapped.timeout),
    });
  }
  return elements;
}

/**
 * How nft is reached. `direct` runs `nft` itself (sudoers must allow `nft -f -`, which is root: `flush
 * ruleset`, `include` of any file). `helper` runs the fixed script host-tools/lokiban-nft, which accepts
 * only lokiban's own statements for `inet lokiban` and is the only command sudoers needs to name.
 */
interface NftCommands {
  apply(stdin: string): Command;
  list(set: string): Command;
  check(): Command;
  install(): SetupStep[];
}

const directCommands: NftCommands = {
  apply: (stdin) => ({ argv: ['nft', '-f', '-'], stdin }),
  list: (set) => ({ argv: ['nft', '-j', 'list', 'set', 'inet', NFT_TABLE, set] }),
  check: () => ({ argv: ['nft', '--version'] }),
  install: () => [],
};

function helperCommands(path: string): NftCommands {
  return {
    apply: (stdin) => ({ argv: [path, 'apply'], stdin }),
    list: (set) => ({ argv: [path, 'list', set] }),
    check: () => ({ argv: [path, 'check', NFT_HELPER_VERSION] }),
    // Skipped when the installed helper is this version, so routine setups need only the helper's sudo rule.
    install: () => [
      {
        unless: { argv: [path, 'version', NFT_HELPER_VERSION] },
        run: {
          argv: ['install', '-D', '-o', 'root', '-g', 'root', '-m', '0755', '/dev/stdin', path],
          stdin: nftHelperScript(),
        },
      },
    ],
  };
}

export function nftablesBackend(host?: Pick<HostConfig, 'privilege' | 'helperPath'>): Backend {
  const nft = host?.privilege === 'helper' ? helperCommands(host.helperPath) : directCommands;
  return {
    name: 'nftables',
    maxTimeoutSeconds: null,
    setup: (): SetupStep[] => [...nft.install(), { run: nft.apply(nftSetupScript()) }],
    check: () => [nft.check()],
    needsPresent: (batch) => [...batch.add, ...batch.remove].some((e) => setKindOf(e.ip) === 'net'),
    // Only the (small) prefix sets are needed to write a batch exactly.
    listForApply: () => [nft.list(NFT_SETS.net[4]), nft.list(NFT_SETS.net[6])],
    apply: (batch, present, opts) => {
      const stdin = nftApplyScript(batch, present, opts);
      return stdin === '' ? [] : [nft.apply(stdin)];
    },
    list: () => SET_DEFS.map((s) => nft.list(s.name)),
    parseList: (outputs) => outputs.flatMap(parseNftListSet),
  };
}
