import type { Command } from 'commander';
import type { Config } from '../config/load.js';
import type { HostConfig } from '../config/schema.js';
import { nftHelperScript } from '../enforce/backends/nft-helper.js';
import { createEnforcer } from '../enforce/index.js';
import { type ClientOptions, clientFor, withClientOptions } from './api-commands.js';
import { loadConfigOrExit, loadEnvFileInto } from './config-commands.js';
import { CliError, type CliIo, EXIT_CONFIG, processIo } from './io.js';
import { renderTable } from './table.js';

interface HeldJson {
  wouldRemove: number;
  present: number;
  since: string;
}

interface HostsOptions {
  config: string;
  envFile?: string;
  host?: string[];
}

function load(options: HostsOptions, io: CliIo): Config {
  const env = options.envFile ? loadEnvFileInto(options.envFile, io.env) : io.env;
  // Host commands talk SSH only: the webhook, API and audit secrets need not be at hand.
  return loadConfigOrExit(options.config, env, { unusedSections: ['auth', 'audit'] });
}

function selectHosts(config: Config, names: string[] | undefined): HostConfig[] {
  if (!names || names.length === 0) return config.hosts;
  const unknown = names.filter((name) => !config.hosts.some((h) => h.name === name));
  if (unknown.length > 0) {
    throw new CliError(`unknown host${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`, EXIT_CONFIG);
  }
  return config.hosts.filter((h) => names.includes(h.name));
}

const collect = (value: string, previous: string[] = []) => [...previous, value];
const where = (host: HostConfig) => `${host.user}@${host.address}:${host.port}`;

/** `lokiban hosts check`, `lokiban hosts setup` and `lokiban hosts helper`. */
export function registerHostsCommands(program: Command, io: CliIo = processIo): Command {
  const hosts = program
    .command('hosts')
    .description('target hosts: check access, set up firewall sets and rules');

  hosts
    .command('check')
    .description('connect to every host, verify its pinned key and that the firewall tool runs with sudo -n')
    .requiredOption('-c, --config <file>', 'configuration file (YAML)')
    .option('--env-file <file>', 'load environment variables (secrets) from this file first')
    .option('--host <name>', 'only this host (repeatable)', collect)
    .action(async (options: HostsOptions) => {
      const config = load(options, io);
      const selected = selectHosts(config, options.host);
      if (selected.length === 0) {
        io.out('no hosts configured');
        return;
      }
      const enforcer = createEnforcer(config);
      try {
        const rows = await Promise.all(selected.map((host) => enforcer.check(host)));
        io.out(
          renderTable(
            ['HOST', 'ADDRESS', 'BACKEND', 'STATUS', 'DETAIL'],
            rows.map((row, i) => {
              const host = selected[i]!;
              return [row.host, where(host), host.backend, row.ok ? 'ok' : 'FAIL', row.detail];
            }),
          ),
        );
        const failed = rows.filter((row) => !row.ok).length;
        if (failed > 0)
          throw new CliError(
            `${failed} of ${rows.length} host${rows.length > 1 ? 's' : ''} failed the check`,
          );
      } finally {
        await enforcer.close();
      }
    });

  hosts
    .command('setup')
    .description("create lokiban's table, sets and drop rules on every host (idempotent)")
    .requiredOption('-c, --config <file>', 'configuration file (YAML)')
    .option('--env-file <file>', 'load environment variables (secrets) from this file first')
    .option('--host <name>', 'only this host (repeatable)', collect)
    .option('--dry-run', 'print what would be applied, touch nothing')
    .action(async (options: HostsOptions & { dryRun?: boolean }) => {
      const config = load(options, io);
      const selected = selectHosts(config, options.host);
      const enforcer = createEnforcer(config);
      const failures: string[] = [];
      try {
        for (const host of selected) {
          const title = `# ${host.name} (${host.backend}, ${where(host)})${options.dryRun ? ', dry run' : ''}`;
          try {
            const applied = await enforcer.setup(host, { dryRun: options.dryRun ?? false });
            io.out(`${title}\n${applied.length > 0 ? applied.join('\n') : '(nothing to do)'}`);
          } catch (error) {
            io.err(`${title}: FAILED: ${(error as Error).message}`);
            failures.push(host.name);
          }
        }
      } finally {
        await enforcer.close();
      }
      if (failures.length > 0) throw new CliError(`setup failed on ${failures.join(', ')}`);
    });

  withClientOptions(
    hosts
      .command('reconcile <host>')
      .description(
        'show whether the reconcile brake holds a host; with --confirm let its reconcile remove what the store does not know (admin token)',
      )
      .option('--confirm', 'remove the elements the brake held, now'),
  ).action(async (name: string, options: ClientOptions & { confirm?: boolean }) => {
    const client = clientFor(options, io);
    const print = (data: unknown, text: string) =>
      io.out(options.json ? JSON.stringify(data, null, 2) : text);
    if (options.confirm) {
      const report = await client.request<{ host: string; added: number; removed: number; retimed: number }>(
        'POST',
        `/api/v1/hosts/${encodeURIComponent(name)}/reconcile`,
        { confirm: true },
      );
      print(
        report,
        `${report.host}: reconciled, removed ${report.removed}, added ${report.added}, retimed ${report.retimed}`,
      );
      return;
    }
    const data = await client.request<{ hosts: Array<{ name: string; reconcileHeld: HeldJson | null }> }>(
      'GET',
      '/api/v1/hosts',
    );
    const host = data.hosts.find((h) => h.name === name);
    if (!host) throw new CliError(`unknown host: ${name}`, EXIT_CONFIG);
    const held = host.reconcileHeld;
    print(
      host,
      held
        ? `${name}: reconcile removals HELD since ${held.since}: would remove ${held.wouldRemove} of ${held.present} elements the store does not know; check the store, then run: lokiban hosts reconcile --confirm ${name}`
        : `${name}: nothing held`,
    );
  });

  hosts
    .command('helper')
    .description(
      'print the lokiban-nft helper script (for installing it by hand; `hosts setup` installs it itself)',
    )
    .action(() => {
      io.out(nftHelperScript().trimEnd());
    });
  return hosts;
}
