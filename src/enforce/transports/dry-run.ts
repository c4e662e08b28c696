import type { Logger } from 'pino';
import type { HostConfig } from '../../config/schema.js';
import { type Command, describeCommand } from '../command.js';
import type { Transport } from './transport.js';

export interface DryRunRecord {
  host: string;
  command: Command;
}

/** Touches no host: records and logs the exact commands that would run. */
export function dryRunTransport(logger?: Pick<Logger, 'info'>): Transport & { records: DryRunRecord[] } {
  const records: DryRunRecord[] = [];
  return {
    name: 'dry-run',
    canRead: false,
    records,
    run: async (host: HostConfig, command) => {
      records.push({ host: host.name, command });
      // Bounded: a long-running dry-run responder keeps only the recent commands in memory.
      if (records.length > 10_000) records.splice(0, records.length - 10_000);
      logger?.info({ host: host.name, command: describeCommand(command) }, 'dry-run: would run');
      return { stdout: '', stderr: '', code: 0 };
    },
    reset: () => {},
    close: async () => {},
  };
}
