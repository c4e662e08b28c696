import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerApiCommands } from './api-commands.js';
import { registerConfigCommands } from './config-commands.js';
import { registerHostsCommands } from './hosts.js';
import { type CliIo, processIo } from './io.js';
import { registerRulesCommands } from './rules.js';
import { registerSecretsCommands } from './secrets.js';
import { registerServeCommand } from './serve.js';

/** The package version, read from package.json (two levels up from both src/cli and dist/cli). */
export const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/**
 * The `lokiban` command tree. Each group registers itself from its own module
 * (`registerXCommands(program, io)`), so new groups plug in here without touching the others.
 */
export function buildProgram(io: CliIo = processIo): Command {
  const program = new Command('lokiban')
    .description('Fail2Ban for Grafana + Loki: LogQL alerts in, firewall bans out')
    .version(VERSION)
    .showHelpAfterError()
    .configureOutput({ writeOut: (text) => io.out(text), writeErr: (text) => io.err(text) });
  registerServeCommand(program, io);
  registerConfigCommands(program, io);
  registerSecretsCommands(program, io);
  registerApiCommands(program, io);
  registerHostsCommands(program, io);
  registerRulesCommands(program, io);
  return program;
}
