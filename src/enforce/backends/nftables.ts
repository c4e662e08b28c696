import type { Family } from '../../domain/ip.js';
import { safeElement, safeNetwork } from '../command.js';
import type { BanElement, EnforcementBatch, PresentElement } from '../port.js';
import { type Backend, normalizeBatch, type SetupStep } from './backend.js';

export const NFT_TABLE = 'lokiban';
export const NFT_SETS: Record<Family, string> = { 4: 'banned4', 6: 'banned6' };
/** Elements per `add element` statement; keeps each line a reasonable size for nft's parser. */
const CHUNK = 2_000;

/**
 * Table `inet lokiban`: one set per family with `flags interval, timeout` (CIDR bans need interval;
 * auto-merge stays off so every ban keeps its own timeout), and drop rules in `input` and `forward`
 * (Docker-published ports are forwarded, not input). Priority -10 runs before the usual filter chains.
 * Flushing and re-adding the two chains' rules inside the same transaction keeps setup idempotent.
 */
export function nftSetupScript(): string {
  const t = `inet ${NFT_TABLE}`;
  return [
    `add table ${t}`,
    `add set ${t} ${NFT_SETS[4]} { type ipv4_addr; flags interval, timeout; }`,
    `add set ${t} ${NFT_SETS[6]} { type ipv6_addr; flags interval, timeout; }`,
    `add chain ${t} input { type filter hook input priority -10; policy accept; }`,
    `add chain ${t} forward { type filter hook forward priority -10; policy accept; }`,
    `flush chain ${t} input`,
    `flush chain ${t} forward`,
    ...['input', 'forward'].flatMap((chain) => [
      `add rule ${t} ${chain} ip saddr @${NFT_SETS[4]} drop`,
      `add rule ${t} ${chain} ip6 saddr @${NFT_SETS[6]} drop`,
    ]),
    '',
  ].join('\n');
}

function statements(verb: 'add' | 'delete', family: Family, items: string[]): string[] {
  const lines: string[] = [];
  for (let i = 0; i < items.length; i += CHUNK) {
    lines.push(
      `${verb} element inet ${NFT_TABLE} ${NFT_SETS[family]} { ${items.slice(i, i + CHUNK).join(', ')} }`,
    );
  }
  return lines;
}

function withTimeout(element: BanElement): string {
  return element.timeoutSeconds === null ? element.ip : `${element.ip} timeout ${element.timeoutSeconds}s`;
}

/**
 * The transaction for one batch, sent on stdin to `nft -f -`.
 *
 * `add element` leaves an existing element's timeout alone, so a ban is extended by delete + add. nft
 * 1.0.6 has no `destroy element`, and `delete` of a missing element fails the whole transaction, so when
 * the host's state is unknown each touched element is first added with a 1 s timeout (a no-op if it is
 * there), then deleted, then added for real — idempotent whatever the host holds.
 *
 * That trick cannot be used when prefixes are involved: nft checks interval overlaps against its cache,
 * and the no-op add leaves a duplicate there that breaks adding an overlapping prefix later in the same
 * transaction. Batches with prefixes are therefore written against the host's `present` elements: plain
 * deletes of what is there, then adds.
 */
export function nftApplyScript(batch: EnforcementBatch, present?: readonly PresentElement[]): string {
  const { add, remove } = normalizeBatch(batch);
  const adds = add.map(safeElement);
  const removes = remove.map((r) => ({ ip: safeNetwork(r.ip, r.family), family: r.family }));
  const lines = [nftSetupScript().trimEnd()];
  for (const family of [4, 6] as const) {
    const touched = [...adds, ...removes].filter((e) => e.family === family).map((e) => e.ip);
    const fresh = adds.filter((e) => e.family === family);
    if (present) {
      const there = new Set(present.filter((p) => p.family === family).map((p) => p.ip));
      lines.push(
        ...statements(
          'delete',
          family,
          touched.filter((ip) => there.has(ip)),
        ),
      );
    } else {
      lines.push(
        ...statements(
          'add',
          family,
          touched.map((ip) => `${ip} timeout 1s`),
        ),
      );
      lines.push(...statements('delete', family, touched));
    }
    lines.push(...statements('add', family, fresh.map(withTimeout)));
  }
  return `${lines.join('\n')}\n`;
}

const isPrefix = (ip: string) => ip.includes('/');

type NftValue = string | { prefix: { addr: string; len: number } } | { range: unknown };
type NftElem = NftValue | { elem: { val: NftValue; timeout?: number; expires?: number } };

function valueText(value: NftValue): string | undefined {
  if (typeof value === 'string') return value;
  if ('prefix' in value) return `${value.prefix.addr}/${value.prefix.len}`;
  // Ranges are never written by lokiban; they are left for the operator.
  return undefined;
}

/** Reads `nft -j list set inet lokiban bannedN` output. */
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
    // nft prints a full-length prefix as the bare address; canonicalize so lookups match the store.
    const ip = normalizePresent(text);
    elements.push({
      ip,
      family,
      timeoutSeconds: wrapped?.timeout === undefined ? null : (wrapped.expires ?? wrapped.timeout),
    });
  }
  return elements;
}

function normalizePresent(text: string): string {
  try {
    return safeNetwork(text);
  } catch {
    return text;
  }
}

export function nftablesBackend(): Backend {
  return {
    name: 'nftables',
    maxTimeoutSeconds: null,
    setup: (): SetupStep[] => [{ run: { argv: ['nft', '-f', '-'], stdin: nftSetupScript() } }],
    check: () => [{ argv: ['nft', '--version'] }],
    needsPresent: (batch) => [...batch.add, ...batch.remove].some((e) => isPrefix(e.ip)),
    apply: (batch, present) => [{ argv: ['nft', '-f', '-'], stdin: nftApplyScript(batch, present) }],
    list: () =>
      ([4, 6] as const).map((family) => ({
        argv: ['nft', '-j', 'list', 'set', 'inet', NFT_TABLE, NFT_SETS[family]],
      })),
    parseList: (outputs) => outputs.flatMap(parseNftListSet),
  };
}
