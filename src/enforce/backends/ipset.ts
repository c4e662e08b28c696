import type { Family } from '../../domain/ip.js';
import { type Command, safeElement, safeNetwork } from '../command.js';
import type { EnforcementBatch, PresentElement } from '../port.js';
import { type Backend, normalizeBatch, type SetupStep } from './backend.js';

export const IPSET_NAMES: Record<Family, string> = { 4: 'lokiban4', 6: 'lokiban6' };
/** ipset stores timeouts in ms in a u32: anything longer is refused, so longer bans are capped. */
export const IPSET_MAX_TIMEOUT = 2_147_483;

const IPTABLES: Record<Family, string> = { 4: 'iptables', 6: 'ip6tables' };

function dropRule(family: Family, chain: string): string[] {
  return [chain, '-m', 'set', '--match-set', IPSET_NAMES[family], 'src', '-j', 'DROP'];
}

/** `ipset restore -exist` input: `add` resets the timeout of an existing entry, `del` ignores missing ones. */
export function ipsetRestoreScript(batch: EnforcementBatch, maxTimeout = IPSET_MAX_TIMEOUT): string {
  const { add, remove } = normalizeBatch(batch);
  const lines = remove.map((r) => `del ${IPSET_NAMES[r.family]} ${safeNetwork(r.ip, r.family)}`);
  for (const element of add.map(safeElement)) {
    // Timeout 0 is ipset's "never expires" inside a set created with a timeout.
    const seconds = element.timeoutSeconds === null ? 0 : Math.min(element.timeoutSeconds, maxTimeout);
    lines.push(`add ${IPSET_NAMES[element.family]} ${element.ip} timeout ${seconds}`);
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** Reads `ipset save lokibanN` output. */
export function parseIpsetSave(text: string): PresentElement[] {
  const elements: PresentElement[] = [];
  for (const line of text.split('\n')) {
    const match = /^add (lokiban[46]) (\S+)(?: timeout (\d+))?/.exec(line.trim());
    if (!match) continue;
    const family: Family = match[1] === IPSET_NAMES[6] ? 6 : 4;
    const seconds = match[3] === undefined ? null : Number(match[3]);
    elements.push({ ip: match[2]!, family, timeoutSeconds: seconds === 0 ? null : seconds });
  }
  return elements;
}

export function ipsetBackend(): Backend {
  return {
    name: 'ipset',
    maxTimeoutSeconds: IPSET_MAX_TIMEOUT,
    setup: () => {
      const steps: SetupStep[] = [];
      for (const family of [4, 6] as const) {
        steps.push({
          run: {
            argv: [
              'ipset',
              'create',
              IPSET_NAMES[family],
              'hash:net',
              'family',
              family === 4 ? 'inet' : 'inet6',
              'timeout',
              '0',
              'maxelem',
              '1048576',
              '-exist',
            ],
          },
        });
        const tool = IPTABLES[family];
        steps.push({
          unless: { argv: [tool, '-w', '-C', ...dropRule(family, 'INPUT')] },
          run: { argv: [tool, '-w', '-I', 'INPUT', '1', ...dropRule(family, 'INPUT').slice(1)] },
        });
        // Docker sends published ports through FORWARD; DOCKER-USER is where it lets others filter first.
        steps.push({
          when: { argv: [tool, '-w', '-n', '-L', 'DOCKER-USER'] },
          unless: { argv: [tool, '-w', '-C', ...dropRule(family, 'DOCKER-USER')] },
          run: {
            argv: [tool, '-w', '-I', 'DOCKER-USER', '1', ...dropRule(family, 'DOCKER-USER').slice(1)],
          },
        });
      }
      return steps;
    },
    check: () => [{ argv: ['ipset', '--version'] }],
    needsPresent: () => false,
    apply: (batch): Command[] => {
      const stdin = ipsetRestoreScript(batch);
      return stdin === '' ? [] : [{ argv: ['ipset', 'restore', '-exist'], stdin }];
    },
    list: () => ([4, 6] as const).map((family) => ({ argv: ['ipset', 'save', IPSET_NAMES[family]] })),
    parseList: (outputs) => outputs.flatMap(parseIpsetSave),
  };
}
