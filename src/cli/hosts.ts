import type { Command } from 'commander';
import { type Config, loadConfig } from '../config/load.js';
import type { HostConfig } from '../config/schema.js';
import { createEnforcer } from '../enforce/index.js';

interface HostsOptions {
  config: string;
  envFile?: string;
  host?: string[];
}

function load(options: HostsOptions): Config {
  // Node's own parser: KEY=value lines, no shell expansion.
  if (options.envFile) process.loadEnvFile(options.envFile);
  return loadConfig(options.config);
}

function selectHosts(config: Config, names: string[] | undefined): HostConfig[] {
  if (!names || names.length === 0) return config.hosts;
  const unknown = names.filter((name) => !config.hosts.some((h) => h.name === name));
  if (unknown.length > 0)
    throw new Error(`unknown host${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`);
  return config.hosts.filter((h) => names.includes(h.name));
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '))
    .join('\n');
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** `lokiban hosts check` and `lokiban hosts setup`. */
export function registerHostsCommands(program: Command): Command {
  const hosts = program
    .command('hosts')
    .description('target hosts: check access, set up firewall sets and rules');

  hosts
    .command('check')
    .description('connect to every host, verify its pinned key and that the firewall tool runs with sudo -n')
    .option('-c, --config <file>', 'configuration file', 'config/lokiban.yaml')
    .option('--env-file <file>', 'load secrets from this KEY=value file first')
    .option('--host <name>', 'only this host (repeatable)', collect)
    .action(async (options: HostsOptions) => {
      const config = load(options);
      const selected = selectHosts(config, options.host);
      if (selected.length === 0) {
        process.stdout.write('no hosts configured\n');
        return;
      }
      const enforcer = createEnforcer(config);
      try {
        const rows = await Promise.all(selected.map((host) => enforcer.check(host)));
        process.stdout.write(
          `${table([
            ['HOST', 'ADDRESS', 'BACKEND', 'STATUS', 'DETAIL'],
            ...rows.map((row, i) => {
              const host = selected[i]!;
              return [
                row.host,
                `${host.user}@${host.address}:${host.port}`,
                host.backend,
                row.ok ? 'ok' : 'FAIL',
                row.detail,
              ];
            }),
          ])}\n`,
        );
        if (rows.some((row) => !row.ok)) process.exitCode = 1;
      } finally {
        await enforcer.close();
      }
    });

  hosts
    .command('setup')
    .description("create lokiban's table, sets and drop rules on every host (idempotent)")
    .option('-c, --config <file>', 'configuration file', 'config/lokiban.yaml')
    .option('--env-file <file>', 'load secrets from this KEY=value file first')
    .option('--host <name>', 'only this host (repeatable)', collect)
    .option('--dry-run', 'print what would be applied, touch nothing')
    .action(async (options: HostsOptions & { dryRun?: boolean }) => {
      const config = load(options);
      const selected = selectHosts(config, options.host);
      const enforcer = createEnforcer(config);
      try {
        for (const host of selected) {
          try {
            const applied = await enforcer.setup(host, { dryRun: options.dryRun ?? false });
            process.stdout.write(
              `# ${host.name} (${host.backend}, ${host.user}@${host.address}:${host.port})${options.dryRun ? ' — dry run' : ''}\n`,
            );
            process.stdout.write(applied.length > 0 ? `${applied.join('\n')}\n` : '(nothing to do)\n');
          } catch (error) {
            process.stderr.write(`# ${host.name}: FAILED: ${(error as Error).message}\n`);
            process.exitCode = 1;
          }
        }
      } finally {
        await enforcer.close();
      }
    });
  return hosts;
}
