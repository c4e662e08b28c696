import { JAIL_NAME } from '../config/schema.js';
import { MAX_BAN_SECONDS } from '../domain/duration.js';
import { type Family, formatNetwork, parseNetwork } from '../domain/ip.js';
import type { BanElement } from './port.js';

/** One program run on a host: an argument vector and optional stdin. Never a shell string. */
export interface Command {
  argv: string[];
  stdin?: string;
}

export interface CommandOutput {
  stdout: string;
  stderr: string;
  code: number;
}

/** Raised when a value about to be placed in a firewall command is not what it claims to be. */
export class UnsafeValueError extends Error {
  override name = 'UnsafeValueError';
}

/** The largest timeout placed in a command: the documented maximum ban (domain/duration.ts). */
export const MAX_TIMEOUT_SECONDS = MAX_BAN_SECONDS;

/**
 * Re-validates an address right before it is placed in a command, whatever validated it earlier:
 * it must already be the canonical text of a network of the stated family, so nothing else can ride along.
 */
export function safeNetwork(ip: unknown, family?: Family): string {
  if (typeof ip !== 'string') throw new UnsafeValueError('address is not a string');
  const net = parseNetwork(ip);
  if (!net) throw new UnsafeValueError(`refusing "${printable(ip)}": not an IP address or CIDR`);
  const canonical = formatNetwork(net);
  if (canonical !== ip)
    throw new UnsafeValueError(`refusing "${printable(ip)}": not canonical (${canonical})`);
  if (family !== undefined && net.family !== family)
    throw new UnsafeValueError(`refusing "${ip}": not an IPv${family} network`);
  // A firewall-wide drop is never a ban: /0 … /7 would cut the host off the internet.
  if (net.prefix < (net.family === 4 ? 8 : 16))
    throw new UnsafeValueError(`refusing "${ip}": prefix /${net.prefix} is too wide to ban`);
  return canonical;
}

export function safeSeconds(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > MAX_TIMEOUT_SECONDS)
    throw new UnsafeValueError(
      `refusing timeout ${printable(String(value))}: not a whole number of seconds from 1 to ${MAX_TIMEOUT_SECONDS}`,
    );
  return value;
}

export function safeJail(value: unknown): string {
  if (typeof value !== 'string' || !JAIL_NAME.test(value))
    throw new UnsafeValueError(`refusing jail "${printable(String(value))}": must match ${JAIL_NAME}`);
  return value;
}

export function familyOf(ip: string): Family {
  return ip.includes(':') ? 6 : 4;
}

/** Validates a whole element: canonical network of its family, integer seconds or null, safe jail. */
export function safeElement(element: BanElement): BanElement {
  const ip = safeNetwork(element.ip, element.family);
  return {
    ip,
    family: element.family,
    jail: safeJail(element.jail),
    timeoutSeconds: element.timeoutSeconds === null ? null : safeSeconds(element.timeoutSeconds),
  };
}

/** For error messages: at most 80 characters, control characters made visible. */
export function printable(text: string): string {
  const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return JSON.stringify(shown).slice(1, -1);
}

/** How a command is written in logs, dry-run output and audit: argv joined, stdin after a marker. */
export function describeCommand(command: Command): string {
  const argv = command.argv.map((arg) => (/^[A-Za-z0-9_./:=@%+,-]+$/.test(arg) ? arg : shellQuote(arg)));
  return command.stdin === undefined ? argv.join(' ') : `${argv.join(' ')} <<'EOF'\n${command.stdin}EOF`;
}

/**
 * Quotes one argument for a POSIX shell. Needed only by the SSH transport, whose protocol carries a
 * command line that the remote login shell splits: every argument is single-quoted so it stays one word.
 */
export function shellQuote(arg: string): string {
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}
