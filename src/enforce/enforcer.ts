import type { HostConfig } from '../config/schema.js';
import { type Backend, backendFor, type SetupStep } from './backends/index.js';
import { type Command, type CommandOutput, describeCommand, printable } from './command.js';
import type { EnforcementBatch, EnforcementResult, Enforcer, PresentElement } from './port.js';
import type { Transport } from './transports/transport.js';

export class CommandFailedError extends Error {
  override name = 'CommandFailedError';
}

/** The backend cannot read its state back (template) or the transport cannot (dry-run). */
export class ListUnsupportedError extends Error {
  override name = 'ListUnsupportedError';
}

export interface CheckRow {
  host: string;
  ok: boolean;
  detail: string;
}

/** Backends and transports joined: validated commands in, checked exit status out. */
export class FirewallEnforcer implements Enforcer {
  private readonly backends = new Map<string, Backend>();
  /** Hosts whose last batch succeeded: their next batch can skip the setup statements. */
  private readonly ready = new Set<string>();
  /**
   * Per host, what its sets hold (address → expiry, epoch ms; null = permanent) since the last full
   * read, kept up to date by every successful batch and dropped on any failure. It only ever lets a
   * batch skip the delete of an element that is certainly absent; when it is wrong (someone added the
   * element by hand) the add leaves the existing element, and the reconciler re-times it.
   */
  private readonly known = new Map<string, Map<string, number | null>>();

  constructor(
    readonly transport: Transport,
    private readonly timeoutMs = 30_000,
  ) {}

  backend(host: HostConfig): Backend {
    let backend = this.backends.get(host.name);
    if (!backend) {
      backend = backendFor(host);
      this.backends.set(host.name, backend);
    }
    return backend;
  }

  /** `sudo -n` (never prompt) unless the login is already root. */
  privileged(host: HostConfig, command: Command): Command {
    const elevate =
      host.sudo && (this.transport.name === 'ssh' ? host.user !== 'root' : process.getuid?.() !== 0);
    return elevate ? { ...command, argv: ['sudo', '-n', '--', ...command.argv] } : command;
  }

  private async exec(host: HostConfig, command: Command): Promise<CommandOutput> {
    return this.transport.run(host, this.privileged(host, command), this.timeoutMs);
  }

  private async execChecked(host: HostConfig, command: Command): Promise<CommandOutput> {
    const output = await this.exec(host, command);
    if (output.code !== 0) {
      const stderr = output.stderr.trim().split('\n').slice(0, 5).join(' | ');
      throw new CommandFailedError(
        `host "${host.name}": ${command.argv[0]} exited with ${output.code}: ${printable(stderr).slice(0, 500)}`,
      );
    }
    return output;
  }

  async apply(host: HostConfig, batch: EnforcementBatch): Promise<EnforcementResult> {
    const backend = this.backend(host);
    const present = backend.needsPresent(batch) && this.transport.canRead ? await this.list(host) : undefined;
    const known = this.known.get(host.name);
    const now = Date.now();
    const commands = backend.apply(batch, present, {
      ensureSetup: !this.ready.has(host.name),
      ...(known
        ? {
            knownAbsent: (ip: string) => {
              if (!known.has(ip)) return true;
              const expiry = known.get(ip);
              // The kernel's clock and ours differ a little: only long-expired elements count as gone.
              return expiry !== null && expiry !== undefined && expiry + 5_000 < now;
            },
          }
        : {}),
    });
    try {
      for (const command of commands) await this.execChecked(host, command);
    } catch (error) {
      this.ready.delete(host.name);
      this.known.delete(host.name);
      throw error;
    }
    this.ready.add(host.name);
    if (known) {
      for (const r of batch.remove) known.delete(r.ip);
      for (const a of batch.add)
        known.set(a.ip, a.timeoutSeconds === null ? null : now + a.timeoutSeconds * 1000);
    }
    return { commands: commands.map(describeCommand) };
  }

  /** The next batch for this host carries the setup statements again (asked for by each reconcile). */
  forgetSetup(host: HostConfig): void {
    this.ready.delete(host.name);
  }

  async list(host: HostConfig, only?: Command[]): Promise<PresentElement[]> {
    const backend = this.backend(host);
    const commands = only ?? backend.list();
    if (!commands)
      throw new ListUnsupportedError(`host "${host.name}": backend ${backend.name} cannot list its set`);
    if (!this.transport.canRead)
      throw new ListUnsupportedError(
        `host "${host.name}": transport ${this.transport.name} cannot read state`,
      );
    const outputs: string[] = [];
    const readAt = Date.now();
    for (const command of commands) outputs.push((await this.execChecked(host, command)).stdout);
    const elements = backend.parseList(outputs);
    if (!only) {
      this.known.set(
        host.name,
        new Map(
          elements.map((e) => [e.ip, e.timeoutSeconds === null ? null : readAt + e.timeoutSeconds * 1000]),
        ),
      );
    }
    return elements;
  }

  /** Runs the backend's idempotent setup; with `dryRun` only returns what would run. */
  async setup(host: HostConfig, opts: { dryRun?: boolean } = {}): Promise<string[]> {
    const applied: string[] = [];
    for (const step of this.backend(host).setup()) {
      if (opts.dryRun) {
        applied.push(
          describeStep({
            run: this.privileged(host, step.run),
            ...(step.when ? { when: this.privileged(host, step.when) } : {}),
            ...(step.unless ? { unless: this.privileged(host, step.unless) } : {}),
          }),
        );
        continue;
      }
      if (step.when && (await this.exec(host, step.when)).code !== 0) continue;
      if (step.unless && (await this.exec(host, step.unless)).code === 0) continue;
      await this.execChecked(host, step.run);
      applied.push(describeCommand(this.privileged(host, step.run)));
    }
    return applied;
  }

  /** Connects, verifies the key (the transport refuses a mismatch) and runs the backend's check commands. */
  async check(host: HostConfig): Promise<CheckRow> {
    if (this.transport.name === 'dry-run') {
      return { host: host.name, ok: true, detail: 'transport is dry-run: the host was not contacted' };
    }
    try {
      const details: string[] = [];
      for (const command of this.backend(host).check()) {
        details.push((await this.execChecked(host, command)).stdout.trim().split('\n')[0] ?? '');
      }
      if (this.backend(host).list() && this.transport.canRead) {
        try {
          const elements = await this.list(host);
          details.push(`${elements.length} elements`);
        } catch (error) {
          return {
            host: host.name,
            ok: false,
            detail: `${(error as Error).message} (run: lokiban hosts setup)`,
          };
        }
      }
      return { host: host.name, ok: true, detail: details.filter(Boolean).join('; ') };
    } catch (error) {
      return { host: host.name, ok: false, detail: (error as Error).message };
    }
  }

  async close(): Promise<void> {
    await this.transport.close();
  }
}

function describeStep(step: SetupStep): string {
  const parts: string[] = [];
  if (step.when) parts.push(`if ${describeCommand(step.when)} succeeds:`);
  if (step.unless) parts.push(`unless ${describeCommand(step.unless)} succeeds:`);
  parts.push(describeCommand(step.run));
  return parts.join(' ');
}
