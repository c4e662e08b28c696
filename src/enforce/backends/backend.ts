import type { Command } from '../command.js';
import type { EnforcementBatch, PresentElement } from '../port.js';

/** One idempotent setup step: `run` happens only when `when` succeeds (if given) and `unless` fails (if given). */
export interface SetupStep {
  when?: Command;
  unless?: Command;
  run: Command;
}

/**
 * A firewall backend is pure: it turns batches into commands and command output into elements.
 * Transports run the commands; this keeps every backend testable without a firewall.
 */
export interface Backend {
  readonly name: string;
  /** Creates lokiban's sets and drop rules; safe to repeat. */
  setup(): SetupStep[];
  /** Proves the firewall tool runs with the configured privileges. */
  check(): Command[];
  /**
   * Commands applying one batch. `present` (when the backend asks for it through `needsPresent`) is what
   * the host holds right now, so the commands can be exact instead of defensive.
   */
  apply(
    batch: EnforcementBatch,
    present?: readonly PresentElement[],
    opts?: { ensureSetup?: boolean; knownAbsent?: (ip: string) => boolean },
  ): Command[];
  needsPresent(batch: EnforcementBatch): boolean;
  /** What to read for `needsPresent` (default: `list`); may be a subset of the sets. */
  listForApply?(): Command[];
  /** Commands whose outputs `parseList` reads; undefined when the backend cannot read its state back. */
  list(): Command[] | undefined;
  parseList(outputs: string[]): PresentElement[];
  /** Longest timeout the firewall accepts; longer bans are capped and re-asserted by the reconciler. */
  readonly maxTimeoutSeconds: number | null;
}

/** Last entry wins per address, and an address both added and removed is added (the planner's intent). */
export function normalizeBatch(batch: EnforcementBatch): EnforcementBatch {
  const add = new Map(batch.add.map((element) => [element.ip, element]));
  const remove = new Map(batch.remove.filter((r) => !add.has(r.ip)).map((r) => [r.ip, r]));
  return { add: [...add.values()], remove: [...remove.values()] };
}
