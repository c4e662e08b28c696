import type { HostConfig } from '../../config/schema.js';
import type { Command, CommandOutput } from '../command.js';

export interface Transport {
  readonly name: 'ssh' | 'local' | 'dry-run';
  /** False when the transport cannot read firewall state (dry-run): the reconciler skips. */
  readonly canRead: boolean;
  run(host: HostConfig, command: Command, timeoutMs: number): Promise<CommandOutput>;
  /** Drops the host's connection (after a timeout) so the next run reconnects. */
  reset(host: HostConfig): void;
  /** The local address of each live connection to a host: the source that host sees lokiban by. */
  localAddresses?(): string[];
  close(): Promise<void>;
}

export class TransportError extends Error {
  override name = 'TransportError';
}
