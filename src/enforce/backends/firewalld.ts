import type { Family } from '../../domain/ip.js';
import { type Command, safeElement, safeNetwork } from '../command.js';
import type { EnforcementBatch, PresentElement } from '../port.js';
import { type Backend, normalizeBatch, type SetupStep } from './backend.js';

export const FIREWALLD_IPSETS: Record<Family, string> = { 4: 'lokiban4', 6: 'lokiban6' };

/**
 * firewalld ipsets. `firewall-cmd` has no per-entry timeout, so entries are added to the runtime set
 * without one and lokiban removes them when the ban ends (dispatcher for unbans, reconciler for
 * expiries). Runtime entries vanish on `firewall-cmd --reload`; the next reconcile puts them back.
 */
export function firewalldApplyCommands(batch: EnforcementBatch): Command[] {
  const { add, remove } = normalizeBatch(batch);
  const commands: Command[] = remove.map((r) => ({
    argv: [
      'firewall-cmd',
      '-q',
      `--ipset=${FIREWALLD_IPSETS[r.family]}`,
      `--remove-entry=${safeNetwork(r.ip, r.family)}`,
    ],
  }));
  for (const element of add.map(safeElement)) {
    commands.push({
      argv: [
        'firewall-cmd',
        '-q',
        `--ipset=${FIREWALLD_IPSETS[element.family]}`,
        `--add-entry=${element.ip}`,
      ],
    });
  }
  return commands;
}

export function parseFirewalldEntries(family: Family, text: string): PresentElement[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((ip) => ({ ip, family, timeoutSeconds: null }));
}

export function firewalldBackend(): Backend {
  return {
    name: 'firewalld',
    maxTimeoutSeconds: null,
    setup: () => {
      const steps: SetupStep[] = [];
      for (const family of [4, 6] as const) {
        const name = FIREWALLD_IPSETS[family];
        steps.push({
          unless: { argv: ['firewall-cmd', '-q', '--permanent', `--info-ipset=${name}`] },
          run: {
            argv: [
              'firewall-cmd',
              '-q',
              '--permanent',
              `--new-ipset=${name}`,
              '--type=hash:net',
              `--option=family=${family === 4 ? 'inet' : 'inet6'}`,
              '--option=maxelem=1048576',
            ],
          },
        });
        const rule = `rule family="ipv${family}" source ipset="${name}" drop`;
        steps.push({
          unless: { argv: ['firewall-cmd', '-q', '--permanent', `--query-rich-rule=${rule}`] },
          run: { argv: ['firewall-cmd', '-q', '--permanent', `--add-rich-rule=${rule}`] },
        });
      }
      steps.push({ run: { argv: ['firewall-cmd', '-q', '--reload'] } });
      return steps;
    },
    check: () => [{ argv: ['firewall-cmd', '--state'] }],
    needsPresent: () => false,
    apply: (batch) => firewalldApplyCommands(batch),
    list: () =>
      ([4, 6] as const).map((family) => ({
        argv: ['firewall-cmd', `--ipset=${FIREWALLD_IPSETS[family]}`, '--get-entries'],
      })),
    parseList: (outputs) =>
      outputs.flatMap((text, index) => parseFirewalldEntries(index === 0 ? 4 : 6, text)),
  };
}
